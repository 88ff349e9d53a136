"""From a RenderSpec to files: the ffmpeg runner, the audio graph (loudness, ducking), the video
graph, captions (ASS/SRT/VTT), fonts, and the render itself.
"""
