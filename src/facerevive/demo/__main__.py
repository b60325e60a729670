"""`python -m facerevive.demo` = `facerevive-demo`."""

from facerevive.demo.launch import main

main()
