"""`stylize video` end to end on rendered clips: what a user would notice."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from stylize.cli.main import main
from stylize.pipeline import encode
from stylize.pipeline.ffmpeg_tools import ffmpeg_exe, probe
from stylize.pipeline.frames import VideoInfo

from .conftest import read_all_frames, render_frames, write_clip


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


def test_video_keeps_frames_fps_size_audio_and_edits_faces(clip, model_file, tmp_path):
    out = tmp_path / "out.mp4"
    # --region everywhere: the face's centre must change (a hair edit's default leaves the inner face alone)
    r = run("video", clip, "-m", model_file, "--hair", "blond", "--region", "everywhere", "-o", out, "--no-progress")
    assert r.exit_code == 0, r.output
    a, b = probe(clip), probe(out)
    assert (b.width, b.height, b.fps, b.has_audio) == (a.width, a.height, a.fps, True)
    assert abs(b.duration - a.duration) <= 1 / float(a.fps) + 1e-3
    src, dst = read_all_frames(clip), read_all_frames(out)
    assert len(src) == len(dst) == 45
    diff = np.abs(src[20].astype(int) - dst[20].astype(int)).mean(2)
    # the face (centre of the 200 px head) changed; the background strip at the far right did not
    assert diff[100:160, 60:160].mean() > 20
    assert diff[:, 290:].mean() < 2.0
    assert "1 tracks" in r.output


@pytest.mark.parametrize(("params", "subme"), [(None, b"subme=4"), ("", b"subme=2"), ("subme=7", b"subme=7")])
def test_x264_params_reach_the_encoder_over_the_preset(params, subme, tmp_path):
    # x264 writes the settings it ran with into the stream: the default must be the finer sub-pixel search
    # (less shimmer), "" must leave veryfast's own
    info = VideoInfo(width=64, height=48, fps=Fraction(25), duration=0.2)
    out = tmp_path / "x.mp4"
    extra = {} if params is None else {"x264_params": params}
    with encode.VideoWriter(out, info, out, **extra) as writer:
        for i in range(5):
            writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    assert subme in out.read_bytes()


def test_video_without_audio_and_with_odd_size(model_file, tmp_path):
    frames = [f[:, :301] for f in render_frames(12, size=(301, 221))]
    clip = write_clip(tmp_path / "odd.mp4", frames, fps=Fraction(25), audio=False)
    out = tmp_path / "odd-out.mp4"
    r = run("video", clip, "-m", model_file, "--hair", "black", "-o", out, "--no-progress")
    assert r.exit_code == 0, r.output
    info = probe(out)
    assert (info.width, info.height, info.fps, info.has_audio) == (301, 221, Fraction(25), False)
    assert len(read_all_frames(out)) == 12


def test_rotated_phone_video_is_upright_and_same_display_size(model_file, tmp_path):
    frames = [np.ascontiguousarray(np.rot90(f, -1)) for f in render_frames(10, size=(320, 240))]  # stored sideways
    plain = write_clip(tmp_path / "sideways.mp4", frames, audio=False)
    rotated = tmp_path / "rotated.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-display_rotation", "90", "-i", plain, "-c", "copy", rotated],
                   check=True)
    info = probe(rotated)
    assert info.rotation in (90, 270) and (info.width, info.height) == (320, 240)
    out = tmp_path / "out.mp4"
    r = run("video", rotated, "-m", model_file, "--hair", "blond", "-o", out, "--no-progress")
    assert r.exit_code == 0, r.output
    assert (probe(out).width, probe(out).height) == (320, 240)
    assert "10 frames, 10 with faces" in r.output  # frames reached the detector upright


def test_no_faces_gives_valid_copy_and_warning(model_file, tmp_path):
    from .conftest import background

    clip = write_clip(tmp_path / "empty.mp4", [background(120, 160, 0)] * 8)
    out = tmp_path / "out.mp4"
    r = run("video", clip, "-m", model_file, "--hair", "blond", "-o", out, "--no-progress")
    assert r.exit_code == 0
    assert "no faces found" in r.output and "--detect-size" not in r.output  # searched at full size: no hint
    assert len(read_all_frames(out)) == 8 and probe(out).has_audio


def test_no_faces_on_a_reduced_copy_points_at_detect_size(model_file, tmp_path):
    from .conftest import background

    clip = write_clip(tmp_path / "wide.mp4", [background(240, 320, 0)] * 4)
    r = run("video", clip, "-m", model_file, "--hair", "blond", "-o", tmp_path / "out.mp4", "--no-progress",
            "--detect-size", "160")
    assert r.exit_code == 0 and "try --detect-size 320" in r.output


@pytest.mark.parametrize("case", ["missing", "empty", "text", "truncated", "bad_value", "bad_group", "no_folder",
                                  "no_target", "bad_x264", "twice"])
def test_bad_input_is_one_line_nonzero_and_leaves_nothing(case, clip, model_file, tmp_path):
    src, out = clip, tmp_path / "out.mp4"
    extra = ["--hair", "blond"]
    if case == "missing":
        src = tmp_path / "nope.mp4"
    elif case == "empty":
        src = tmp_path / "empty.mp4"
        src.write_bytes(b"")
    elif case == "text":
        src = tmp_path / "notes.mp4"
        src.write_text("this is not a video\n" * 20)
    elif case == "truncated":
        data = clip.read_bytes()
        src = tmp_path / "cut.mp4"
        src.write_bytes(data[: int(len(data) * 0.4)])
    elif case == "bad_value":
        extra = ["--hair", "green"]
    elif case == "bad_group":
        extra = ["--mood", "happy"]
    elif case == "no_folder":
        out = tmp_path / "missing" / "out.mp4"
    elif case == "no_target":
        extra = []
    elif case == "bad_x264":  # ffmpeg would only log it and encode without
        extra = ["--hair", "blond", "--x264-params", "subme=4:bogus=1"]
    elif case == "twice":
        extra = ["--hair", "blond", "--hair=black"]
    r = run("video", src, "-m", model_file, *extra, "-o", out, "--no-progress")
    assert r.exit_code != 0
    assert "Traceback" not in r.output
    assert len([line for line in r.output.splitlines() if line.startswith("Error: ")]) == 1, r.output
    assert not out.exists()
    assert leftovers(out.parent if out.parent.exists() else tmp_path) == []


def test_interrupt_leaves_nothing_under_the_output_name(clip, model_file, tmp_path, monkeypatch):
    original = encode.VideoWriter.write

    def interrupt_after_some_frames(self, rgb):
        if self.frames == 10:
            raise KeyboardInterrupt
        original(self, rgb)

    monkeypatch.setattr(encode.VideoWriter, "write", interrupt_after_some_frames)
    out = tmp_path / "out.mp4"
    r = run("video", clip, "-m", model_file, "--hair", "blond", "-o", out, "--no-progress")
    assert r.exit_code == 130
    assert not out.exists() and leftovers(tmp_path) == []


def test_detect_every_n_refits_between_and_redetects_when_a_face_leaves():
    from stylize.pipeline.detect import FaceDetector, detect_frames
    from stylize.pipeline.frames import Frame

    from .conftest import background, render_frames

    images = render_frames(10) + [background(240, 320, 0)] * 3  # the face leaves after frame 9, mid-interval
    detector = FaceDetector()
    full_calls = []
    detect = detector.detect
    detector.detect = lambda rgb, *a: full_calls.append(1) or detect(rgb, *a)
    every = list(detect_frames([Frame(i, im) for i, im in enumerate(images)], detector, every=4))
    assert len(full_calls) == 3 + 1 + 0  # frames 0, 4, 8; 10, where the refit fails; none till frame 14
    detector.detect = detect
    each = list(detect_frames([Frame(i, im) for i, im in enumerate(images)], detector, every=1))
    assert [len(f.faces) for f in every] == [len(f.faces) for f in each] == [1] * 10 + [0] * 3
    for a, b in zip(every[:10], each[:10], strict=True):
        assert np.abs(a.faces[0].points5 - b.faces[0].points5).max() < 3  # pixels, on a 200 px face


def late_video_clip(folder: Path, ext: str, vfr: bool = False) -> Path:
    """Like many phone and web videos: the video stream starts 0.85 s after the audio, and the audio runs on
    after the video ends (the container is longer than its video)."""
    video = write_clip(folder / "v.mp4", render_frames(45), audio=False)
    tone = folder / "tone.wav"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=3.5",
                    tone], check=True)
    vcodec = ["libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"] if ext == "webm" else ["libx264"]
    timing = ["-vf", "setpts='if(lt(N,20),N/30,20/30+(N-20)/15)/TB'", "-fps_mode", "vfr"] if vfr else []
    out = folder / f"late.{ext}"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", tone, "-itsoffset", "0.85", "-i", video,
                    "-map", "0:a", "-map", "1:v", *timing, "-c:v", *vcodec, "-c:a", "libopus" if ext == "webm" else
                    "aac", out], check=True)
    return out


@pytest.mark.parametrize("ext", ["mp4", "mkv", "mov", "webm"])
def test_lip_sync_and_length_are_kept_when_video_starts_after_audio(ext, model_file, tmp_path):
    src = late_video_clip(tmp_path, ext)
    out = tmp_path / f"out.{ext}"
    r = run("video", src, "-m", model_file, "--hair", "blond", "-o", out, "--no-progress")
    assert r.exit_code == 0, r.output
    assert "Warning" not in r.output  # the longer audio does not make the video look truncated
    a, b = probe(src), probe(out)
    frame = 1 / float(a.fps)
    assert a.start == pytest.approx(0.85, abs=frame)
    assert abs(b.start - a.start) <= frame  # the video-vs-audio offset, i.e. lip sync
    assert abs(b.duration - a.duration) <= 2 * frame and b.has_audio
    assert len(read_all_frames(out)) == 45


def test_variable_frame_rate_video_keeps_its_frames_and_length(model_file, tmp_path):
    src = late_video_clip(tmp_path, "mkv", vfr=True)
    out = tmp_path / "out.mkv"
    r = run("video", src, "-m", model_file, "--hair", "blond", "-o", out, "--no-progress")
    assert r.exit_code == 0, r.output
    a, b = probe(src), probe(out)
    assert abs(len(read_all_frames(out)) - 45) <= 1
    assert abs(b.duration - a.duration) <= 2 / float(a.fps) and abs(b.start - a.start) <= 1 / float(a.fps)


def test_a_one_frame_video_is_a_video(model_file, tmp_path):
    src = write_clip(tmp_path / "one.mp4", render_frames(1), audio=False)
    r = run("video", src, "-m", model_file, "--hair", "blond", "-o", tmp_path / "out.mp4", "--no-progress")
    assert r.exit_code == 0, r.output
    assert len(read_all_frames(tmp_path / "out.mp4")) == 1
