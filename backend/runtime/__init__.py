"""The long-lived parts wired together: the ``Backend`` context shared by every request, the render job
runner, and adding received files to a session.
"""
