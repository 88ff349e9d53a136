"""Files coming in: streamed multipart and URL downloads (with the SSRF guard) and deciding what a file
is (script, video, audio, image) from its bytes.
"""
