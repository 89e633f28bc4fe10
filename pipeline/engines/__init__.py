"""Whisper engines behind one interface (`base.Engine`), chosen by name in `transcribe.ENGINES`.

For timing an engine on its own (as `make bench` does):

    engine = transcribe.get_engine(transcribe.Options(engine="openai-whisper"))  # loads once
    prepared = audio.prepare(path, cache_dir)
    transcript = engine.transcribe(prepared.path, prepared.duration, prompt=None)

Each module imports its heavy library (ctranslate2, faster_whisper, torch, whisper) only when an
engine is constructed.
"""
