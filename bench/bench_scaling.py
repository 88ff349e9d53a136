"""How a script-only voiceover scales (issue 13): 75, 300, 1,000 and 3,000 words, each end to end over
HTTP on one backend (upload, run_sse, export, poll, download): seconds, real-time factor (seconds of
work per second of speech) and the backend's resident memory (VmRSS after, VmHWM peak so far), then
a 500 MB upload into the same process. Target: the backend stays under 400 MB through all of it.

Pipelining (issue 13): with ``--pipeline-words N`` the script of N words also runs on a backend with
the render pipeline off (VOBACKEND_RENDER_PIPELINE=0): its turn is the synthesis, its export the
render; the pipelined run's total is printed as a ratio to max(synthesis, render) (target ~1.0)
and to their sum.

Every size gets fresh sentences ("Part N" prefixes, numbered at the end too), so the sentence cache
does not flatter it (nor the turn's padding to the synthesis pace for cached speech).
Run: ``python -m bench.bench_scaling [--sizes 75,300,1000,3000]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.bench_backend import EXAMPLE, FALLBACK
from tests.support.backend import Api, BackendProcess

RSS_TARGET_MB = 400
SIZES = (75, 300, 1000, 3000)


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found.get("VmRSS", float("nan")), found.get("VmHWM", float("nan"))


def script_of(words: int, tag: str) -> str:
    """About `words` words of the example script, every sentence made unique by `tag`."""
    from backend.speech.script import parse_script

    text = EXAMPLE.read_text() if EXAMPLE.exists() else FALLBACK
    base = [item.text.rstrip(".!?") for item in parse_script(text) if item.text]
    out: list[str] = []
    count, i = 0, 0
    while count < words:
        # numbered at both ends: the pieces a long sentence is cut into are unique too
        sentence = f"{tag} {i + 1}: {base[i % len(base)]}, {i + 1}."
        out.append(sentence)
        count += len(sentence.split())
        i += 1
    paragraphs = [" ".join(out[k : k + 6]) for k in range(0, len(out), 6)]
    return "\n\n".join(paragraphs)


def one(api: Api, words: int, out: Path, tag: str) -> tuple[float, float, float]:
    """(seconds end to end, seconds of speech, seconds of the export alone) for a script of
    `words` words."""
    t0 = time.perf_counter()
    r = api.upload(("script.txt", script_of(words, tag).encode()))
    assert r.json()["code"] == 0, r.text
    r, _ = api.say("generate a natural male voiceover in English for my script")
    assert r.status_code == 200, r.text
    tracks = api.state()["draft"]["t"]
    speech = next(tr for tr in tracks if tr["tt"] == 1)["sg"][0]["d"] / 1000
    t1 = time.perf_counter()
    result = api.poll(api.export(), timeout=1200)
    assert result["status"] == "completed", result
    api.download(result["output"]["url"], out)
    end = time.perf_counter()
    return end - t0, speech, end - t1


def floor_seconds(words: int, root: Path) -> float:
    """The machine's floor for a `words` script (issue 13): Piper synthesis (voice loaded) + AAC
    encode of the speech + a stream-copy mux into MP4, in this process, now."""
    from backend.media.ffmpeg import FFMPEG
    from backend.media.voice_track import AAC
    from backend.speech.catalog import discover_voices
    from backend.speech.tts import TTSEngine

    voice = next(v for v in discover_voices(None) if v.engine == "piper")
    engine = TTSEngine(root / "floor-cache")
    engine.sentence_clip("Warm up the voice.", voice, 1.0, None)
    t0 = time.perf_counter()
    engine.synthesize(script_of(words, "Floor"), voice, out_path=root / "floor.wav")
    for args in (
        ["-i", str(root / "floor.wav"), *AAC, str(root / "floor.m4a")],
        ["-i", str(root / "floor.m4a"), "-c", "copy", str(root / "floor.mp4")],
    ):
        subprocess.run(
            [FFMPEG, "-hide_banner", "-nostdin", "-y", *args], check=True, capture_output=True
        )
    return time.perf_counter() - t0


def unpipelined(words: int, root: Path) -> tuple[float, float]:
    """(synthesis, render) seconds of a `words` script on a backend without the pipeline."""
    proc = BackendProcess(
        root / "backend-sum",
        env={"VOBACKEND_INITIAL_CREDITS": "100000", "VOBACKEND_RENDER_PIPELINE": "0"},
    )
    proc.start()
    try:
        warm = Api(proc.url)
        warm.say("voiceover\nscript: Warm up the voice.")
        warm.close()
        api = Api(proc.url)
        total, _speech, render = one(api, words, root / "sum.mp4", f"Sum {words}")
        api.close()
    finally:
        proc.stop()
    return total - render, render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--no-upload", action="store_true", help="skip the 500 MB upload")
    parser.add_argument("--pipeline-words", type=int, default=0, help="compare with no pipeline")
    parser.add_argument(
        "--e2e-runs", type=int, default=0, help="then N runs of the first size, each beside a floor"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proc = BackendProcess(root / "backend", env={"VOBACKEND_INITIAL_CREDITS": "100000"})
        proc.start()
        try:
            assert proc.proc is not None
            pid = proc.proc.pid
            idle = memory_mb(pid)
            warm = Api(proc.url)
            warm.say("voiceover\nscript: Warm up the voice.")  # the model load, as on a server
            warm.close()
            loaded = memory_mb(pid)
            for n in sizes:
                api = Api(proc.url)
                seconds, speech, export = one(api, n, root / f"s{n}.mp4", f"Part {n}")
                api.close()
                rss, peak = memory_mb(pid)
                rows.append((n, seconds, speech, export, rss, peak))
            pairs = []
            for i in range(args.e2e_runs):  # the end to end and its floor, alternately
                api = Api(proc.url)
                seconds = one(api, sizes[0], root / f"e{i}.mp4", f"Again {i}")[0]
                api.close()
                (root / f"floor{i}").mkdir()
                pairs.append((seconds, floor_seconds(sizes[0], root / f"floor{i}")))
            upload = None
            if not args.no_upload:
                from bench.bench_upload import stream_upload

                api = Api(proc.url)
                upload = stream_upload(api, root)
                api.close()
            final = memory_mb(pid)
        finally:
            proc.stop()
        compare = unpipelined(args.pipeline_words, root) if args.pipeline_words else None
        floor = floor_seconds(sizes[0], root) if sizes else None
    print(
        f"backend RSS: {idle[0]:.0f} MB started, {loaded[0]:.0f} MB with the voice loaded "
        f"(ratio to the floor: the started process)"
    )
    print("  words | seconds | export s | speech s |   RTF | RSS after | peak RSS | peak / target")
    for n, seconds, speech, export, rss, peak in rows:
        print(
            f"  {n:5d} | {seconds:7.1f} | {export:8.1f} | {speech:8.1f} | {seconds / speech:5.3f} | "
            f"{rss:6.0f} MB | {peak:5.0f} MB | {peak / RSS_TARGET_MB:.2f}x of {RSS_TARGET_MB} MB"
        )
    if floor is not None:
        first = rows[0][1]
        print(
            f"  {sizes[0]} words end to end {first:.1f} s, floor (Piper synthesis + AAC + "
            f"stream-copy mux, same run) {floor:.1f} s: {first / floor:.2f}x (target <= 1.2x)"
        )
    if pairs:
        ratios = sorted(e / f for e, f in pairs)
        print(
            f"  {sizes[0]} words end to end, {len(pairs)} runs each beside its floor: median "
            f"{statistics.median(ratios):.2f}x (target <= 1.2x); "
            f"runs {[f'{e:.1f}/{f:.1f}' for e, f in pairs]}"
        )
    if compare is not None:
        synth, render = compare
        piped = next((r[1] for r in rows if r[0] == args.pipeline_words), None)
        print(
            f"  pipelining, {args.pipeline_words} words: without it synthesis {synth:.1f} s + "
            f"render {render:.1f} s = {synth + render:.1f} s"
        )
        if piped is not None:
            print(
                f"    pipelined {piped:.1f} s: {piped / max(synth, render):.2f}x of "
                f"max(synthesis, render) (target ~1.0), {piped / (synth + render):.2f}x of the sum"
            )
    if upload is not None:
        print(
            f"  then a 500 MB upload in {upload:.1f} s: peak RSS {final[1]:.0f} MB, "
            f"{final[1] / RSS_TARGET_MB:.2f}x of the {RSS_TARGET_MB} MB target: "
            f"{'meets' if final[1] < RSS_TARGET_MB else 'MISSES'}"
        )
    return 0


def run() -> None:
    """Entry point used by `python -m bench`."""
    main(["--pipeline-words", str(SIZES[-1])])


if __name__ == "__main__":
    raise SystemExit(main())
