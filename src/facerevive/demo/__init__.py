"""The web demo (`facerevive-demo`): a Gradio page over the restore pipeline of configs/restore.yaml.

`settings` reads configs/demo.yaml, `session` runs one restoration (the page's callback), `previews` makes the
images the page shows, `app` lays the page out, `launch` serves it. Gradio is imported only by `app`.
"""
