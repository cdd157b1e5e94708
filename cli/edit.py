"""``stylize video`` / ``videos`` / ``image`` / ``images``: the editing commands. Target options (``--hair
blond``) come from the chosen model's groups, so they are parsed after the model is known."""

from __future__ import annotations

from pathlib import Path

import click

from stylize.models import ModelFileError, SchemaError
from stylize.models.catalogue import APPLY_MODES, MAX_COLOUR_BLUR, MAX_FEATHER, STAINED
from stylize.pipeline.options import PHOTO, PRECISIONS, VIDEO, EditOptions

from .common import CONTEXT, fail_cleanly

TARGET_CONTEXT = {**CONTEXT, "ignore_unknown_options": True, "allow_extra_args": True}
IN_FILE = click.Path(dir_okay=False, path_type=Path)
# below this held-out rate (a judge's reading, `stylize-train eval`) an asked target gets a warning: fewer than one
# edit in five reaches it
WEAK_EDIT = 0.2
STAINED_EDIT = 0.05  # `stylize` warns when the eval saw an asked edit stain a face (catalogue.STAINED) this often


class TargetCommand(click.Command):
    """A command whose help ends with the target options the bundled models accept."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        from stylize.models.catalogue import bundled_models, read_metadata
        from stylize.models.schema import DomainSchema

        rows = []
        for name, path in bundled_models().items():
            try:
                schema = DomainSchema.from_json(read_metadata(path)["schema"])
            except (ModelFileError, SchemaError):
                continue
            rows += [(f"--{g.name} {'|'.join(g.values)}", f"model {name}") for g in schema.groups]
        if rows:
            with formatter.section("Targets (from the model's groups; see `stylize models`)"):
                formatter.write_dl(rows)


def x264_params_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """ffmpeg only logs an option x264 rejects and encodes without it: a typo is caught here instead."""
    if value != param.default:
        from stylize.pipeline.encode import check_x264_params

        try:
            check_x264_params(value)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None
    return value


def parse_targets(args: list[str]) -> dict[str, str]:
    """``['--hair', 'blond', '--gender=male']`` → ``{'hair': 'blond', 'gender': 'male'}``."""
    targets: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise click.UsageError(f"unexpected argument '{arg}'")
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise click.UsageError(f"--{name} needs a value")
            value = args[i + 1]
            i += 1
        if name in targets and targets[name] != value:
            raise click.UsageError(f"--{name} given twice ({targets[name]}, {value}): name one value")
        targets[name] = value
        i += 1
    if not targets:
        raise click.UsageError("name a target, e.g. --hair blond or --domain anime (see `stylize models`)")
    return targets


def model_for(model_name: str | None, targets: dict[str, str]):
    """The model named with -m, else the one bundled model that takes the targets; warns when the model's own
    held-out eval says it rarely reaches a target asked for, or often darkens part of the face for it (a sheet of
    dark hair drawn over a cheek), so a weak, wrong or stained edit does not come as a surprise."""
    from stylize.models import bundled_for, load_model  # here, not above: `stylize --help` needs no torch

    model = load_model(model_name or bundled_for(targets))
    at = "".join(f" {option} {value if isinstance(value, str) else format(value, 'g')}"
                 for option, value in model.measured_with.items())
    at = f" at{at}" if at else ""
    for key, rate in model.measured_rates(targets).items():
        if rate < WEAK_EDIT:
            click.echo(f"Warning: {model.name} reached {key} on only {rate:.0%} of its held-out faces{at} "
                       f"(`stylize info {model_name or model.name}`): expect a weak or wrong edit", err=True)
    for key, share in model.measured_rates(targets, "stained").items():
        if share >= STAINED_EDIT:
            click.echo(f"Warning: {model.name} darkened over {STAINED:.0%} of the face on {share:.0%} of its held-out "
                       f"{key} edits{at} (`stylize info {model_name or model.name}`): look at the faces it returns",
                       err=True)
    return model


MAX_DETECT_SIZE = 8192


def detect_size_option(defaults: EditOptions, picture: str, advice: str):
    """--detect-size for videos (frames) and photos, which differ in default, in the smallest face dlib's HOG finds
    (its 80 px window, halved by each upsampling: photos are searched at 1) and in advice."""
    smallest = 80 >> defaults.upsample
    return click.option("--detect-size", type=click.IntRange(160, MAX_DETECT_SIZE), default=defaults.detect_max_side,
                        show_default=True,
                        help=f"Faces are detected on a copy of the {picture} at most this many pixels on its longest "
                             f"side (landmarks always use the full {picture}). dlib's detector needs faces of about "
                             f"{smallest} px in that copy: for small faces in a large {picture} {advice}.")


def no_face_hint(side: int, searched: int, picture: str) -> str:
    """When no face was found on a reduced copy, the --detect-size that searches the whole picture (or as much of it
    as the option allows)."""
    if side <= searched:
        return ""
    return (f" (faces were looked for on a copy {searched} px on its longest side: for small faces in this {side} px "
            f"{picture} try --detect-size {min(side, MAX_DETECT_SIZE)})")


def video_options(f):
    """What `stylize video` and `stylize videos` share beyond the common options: detection, smoothing and x264's
    settings, with the pipeline's own defaults (pipeline/options.py)."""
    f = click.option("--smooth-output", type=click.FloatRange(0, 0.95), default=VIDEO.smooth_output, show_default=True,
                     help="Blend each face's edit with the previous frame's, carried along the face's motion "
                          "(optical flow), where the two crops match: the edit moves with the face instead of "
                          "shimmering (0 = off; lower follows changes of expression sooner). --no-smooth turns it "
                          "off too.")(f)
    f = click.option("--smooth/--no-smooth", default=True, show_default=True,
                     help="Track faces and smooth their alignment over time (off: per-frame, flickers; for "
                          "comparison).")(f)
    f = click.option("--detect-every", type=click.IntRange(1, 30), default=VIDEO.detect_every, show_default=True,
                     help="Run the full face detector every N frames; in between, refit landmarks on the tracked "
                          "faces (faster; new faces are found up to N-1 frames late).")(f)
    f = detect_size_option(VIDEO, "frame", "(a crowd in 1080p) use 1920, at about 7x the detection time")(f)
    f = click.option("--x264-params", default=VIDEO.x264_params, show_default=True, metavar="K=V:K=V",
                     callback=x264_params_option,
                     help="x264 options over the preset (ffmpeg's -x264-params). The default's finer sub-pixel "
                          "motion search makes the re-encoded faces shimmer less, keeping a little less fine texture "
                          "(--crf 16 gives it back); '' keeps the preset's own settings.")(f)
    f = click.option("--preset", default=VIDEO.preset, show_default=True, help="x264 speed/size preset.")(f)
    return click.option("--crf", type=click.IntRange(0, 51), default=VIDEO.crf, show_default=True,
                        help="x264 quality: lower is better and larger; 18 is visually lossless for most footage.")(f)


def video_edit_options(device: str, precision: str, batch_size: int, detector: str, min_face: int,
                       apply: str | None, region: str, strength: float, colour_blur: float | None,
                       feather: float | None, progress: bool, crf: int, preset: str, x264_params: str,
                       detect_size: int, detect_every: int, smooth: bool, smooth_output: float) -> EditOptions:
    """The pipeline's EditOptions from the options of common_options and video_options."""
    from stylize.pipeline.track import SmoothingConfig

    return EditOptions(device=device, precision=precision, batch_size=batch_size, detector=detector,
                       min_face=min_face, apply=apply,
                       region=region, strength=strength, colour_blur=colour_blur, feather=feather,
                       smoothing=SmoothingConfig() if smooth else None,
                       smooth_output=smooth_output if smooth else 0.0, detect_every=detect_every,
                       detect_max_side=detect_size, crf=crf, preset=preset, x264_params=x264_params,
                       progress=progress)


def photo_edit_options(device: str, precision: str, batch_size: int, detector: str, min_face: int,
                       apply: str | None, region: str, strength: float, colour_blur: float | None,
                       feather: float | None, progress: bool, detect_size: int) -> EditOptions:
    """The pipeline's EditOptions from the options of common_options and --detect-size, on photos' defaults."""
    return EditOptions.for_photos(device=device, precision=precision, batch_size=batch_size, detector=detector,
                                  min_face=min_face, detect_max_side=detect_size, progress=progress, apply=apply,
                                  region=region, strength=strength, colour_blur=colour_blur, feather=feather)


def common_options(f):
    f = click.option("--progress/--no-progress", default=True, help="Show a progress bar.")(f)
    f = click.option("--batch-size", type=click.IntRange(1, 512), default=VIDEO.batch_size, show_default=True,
                     help="Faces per generator call.")(f)
    f = click.option("--min-face", type=click.IntRange(0), default=VIDEO.min_face, show_default=True,
                     help="Leave faces smaller than this many pixels alone.")(f)
    f = click.option("--detector", type=click.Choice(["hog", "cnn"]), default=VIDEO.detector, show_default=True,
                     help="dlib face detector: hog is fast, cnn finds more (and smaller, turned) faces but is "
                          "~70x slower on CPU.")(f)
    f = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=VIDEO.device, show_default=True,
                     help="Where the generator runs; auto picks CUDA when present (fp16 there).")(f)
    f = click.option("--precision", type=click.Choice(PRECISIONS), default=VIDEO.precision, show_default=True,
                     help="The generator's arithmetic: auto runs it in fp16 on CUDA and in bfloat16 on CPUs that "
                          "multiply it natively (AVX512-BF16, AMX: the generator about 1.8x faster there, its "
                          "output within a few grey levels of fp32's, 0.06 on average); fp32 everywhere else and "
                          "with fp32.")(f)
    f = click.option("--apply", type=click.Choice(APPLY_MODES), default=None,
                     help="change: add the model's change to the face at its own resolution (sharp; what the model "
                          "leaves alone stays the source's pixels); output: paste the model's output, resized. "
                          "Default: what the model file says.")(f)
    f = click.option("--region", type=click.Choice(["auto", "everywhere"]), default=VIDEO.region, show_default=True,
                     help="Where the edit may act in the face: auto keeps a hair edit out of the inner face (eyes, "
                          "brows, nose, mouth), where models leave coloured tints; everywhere: wherever the model "
                          "changes it.")(f)
    f = click.option("--strength", type=click.FloatRange(0, 4, min_open=True), default=VIDEO.strength,
                     show_default=True,
                     help="Scale the model's change: above 1 a faint edit shows more, and so do its flaws (at 1.5 "
                          "the celeba model's ash blond turns a brighter gold with light streaks, with a brighter "
                          "glow round dark heads); below 1 it is gentler.")(f)
    f = click.option("--colour-blur", type=click.FloatRange(0, MAX_COLOUR_BLUR), default=VIDEO.colour_blur,
                     metavar="PERCENT",
                     help="Blur the colour of the model's change (not its light and shade) over this share of the "
                          "face crop's side: takes out speckle and small painted patches (the celeba model's green "
                          "flecks in blond hair, the eye shadow of its gender edits), and a little of the edit's own "
                          "colour with them; 0 is off. Default: what the model file says (celeba 5, the others 0; "
                          "`stylize info`).")(f)
    f = click.option("--feather", type=click.FloatRange(0, MAX_FEATHER), default=VIDEO.feather, metavar="SHARE",
                     help="How far each face's paste fades out toward the edge of its aligned crop, as a share of "
                          "the crop: it hides the crop's border, and it also takes the edit off hair near that edge "
                          "(the eval's judge reads celeba's --hair blond as blond on 71% of held-out faces at 0.06, "
                          "57% at 0.12) and hides what a model paints there. Default: what the model file says "
                          "(celeba 0.06, the others 0.12; `stylize info`).")(f)
    f = click.option("-m", "--model", "model_name", default=None,
                     help="Bundled model name or model file (.safetensors). Default: the bundled model that takes "
                          "the targets you name (--hair blond: celeba).")(f)
    return f


@click.command("video", cls=TargetCommand, context_settings=TARGET_CONTEXT)
@click.argument("source", type=IN_FILE)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output video (.mp4, .mkv, .mov, ...). Written under a temporary name, renamed when done.")
@common_options
@video_options
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Edit the video in chunks in parallel on a Ray cluster (split at keyframes, overlapping so tracks "
                   "carry across, joined with the source's sound): `--ray auto` joins this machine's cluster, `--ray` "
                   "alone starts Ray here. The output folder must be reachable from every node.")
@click.pass_context
@fail_cleanly
def video_cmd(ctx: click.Context, source: Path, output: Path, model_name: str | None, ray_address: str | None,
              **opts) -> None:
    """Edit every face in the video SOURCE, e.g. `stylize video in.mp4 --domain anime -o out.mp4`.

    The output keeps the frame count, size, frame rate and audio of SOURCE; frames without faces pass through
    unchanged.
    """
    from stylize.pipeline.video import edit_video

    targets = parse_targets(ctx.args)
    model = model_for(model_name, targets)
    options = video_edit_options(**opts)
    if ray_address is not None:
        from stylize.pipeline.chunks import edit_video_chunked

        r = edit_video_chunked(source, output, model, targets, options, ray_address)
        click.echo(f"wrote {output}: {r['frames']} frames in {r['chunks']} chunks, {r['faces']} faces", err=True)
        return
    report = edit_video(source, output, model, targets, options)
    s = report.stats
    if report.short:
        click.echo(f"Warning: {source}: {report.short}", err=True)
    if model.alignment.kind == "face" and s.faces == 0:
        hint = no_face_hint(max(report.info.width, report.info.height), options.detect_max_side, "frame")
        click.echo(f"Warning: no faces found in {source}{hint}; the output is the video unchanged", err=True)
    click.echo(f"wrote {output}: {s.frames} frames, {s.frames_with_faces} with faces, {s.tracks} tracks, "
               f"{report.fps:.1f} fps", err=True)


@click.command("image", cls=TargetCommand, context_settings=TARGET_CONTEXT)
@click.argument("source", type=IN_FILE)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output image; its suffix picks the format (.jpg, .png, .webp, ...).")
@common_options
@detect_size_option(PHOTO, "photo", "raise it towards the photo's own size, at the square of the detection time")
@click.pass_context
@fail_cleanly
def image_cmd(ctx: click.Context, source: Path, output: Path, model_name: str | None, apply: str | None, region: str,
              strength: float, colour_blur: float | None, feather: float | None, device: str, precision: str,
              detector: str, min_face: int, batch_size: int, progress: bool, detect_size: int) -> None:
    """Edit every face in the photo SOURCE, e.g. `stylize image photo.jpg --domain anime -o out.jpg`.

    EXIF orientation is applied, alpha and grayscale are kept, EXIF/ICC metadata is carried over.
    """
    from stylize.pipeline.image import edit_image

    targets = parse_targets(ctx.args)
    model = model_for(model_name, targets)
    options = photo_edit_options(device, precision, batch_size, detector, min_face, apply, region, strength,
                                 colour_blur, feather, progress, detect_size)
    result = edit_image(source, output, model, targets, options)
    if model.alignment.kind == "face" and result.faces == 0:
        hint = no_face_hint(result.side, options.detect_max_side, "photo")
        click.echo(f"Warning: no faces found in {source}{hint}; wrote it unchanged", err=True)
    click.echo(f"wrote {output}: {result.faces} face(s)", err=True)


@click.command("images", cls=TargetCommand, context_settings=TARGET_CONTEXT)
@click.argument("in_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder; mirrors IN_DIR's tree, same names and formats.")
@common_options
@detect_size_option(PHOTO, "photo", "raise it towards the photos' own size, at the square of the detection time")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes that read, detect and align photos (the model runs in the main process).")
@click.option("--only-faces", is_flag=True, help="Skip photos without faces instead of copying them unchanged.")
@click.option("--retry-failed", is_flag=True, help="Try again the photos that failed in an earlier run.")
@click.option("--dry-run", is_flag=True, help="List what would be done, do nothing.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Spread the photos over a Ray cluster: `--ray auto` joins the cluster this machine belongs to, "
                   "`--ray ray://host:10001` a remote one, `--ray` alone starts Ray on this machine. Needs "
                   "`pip install \"stylize[ray]\"`; the folders must be reachable from every node.")
@click.pass_context
@fail_cleanly
def images_cmd(ctx: click.Context, in_dir: Path, out_dir: Path, model_name: str | None, apply: str | None, region: str,
               strength: float, colour_blur: float | None, feather: float | None, device: str, precision: str,
               detector: str, min_face: int, batch_size: int, progress: bool, detect_size: int, jobs: int,
               only_faces: bool, retry_failed: bool, dry_run: bool, ray_address: str | None) -> None:
    """Edit every photo under IN_DIR (recursive), e.g. `stylize images photos/ -o out/ --domain anime`.

    Resumable: a re-run skips what is done (a manifest in the output folder) and finishes the rest; what was
    done with another model, target or option is done again. A bad file is reported and skipped; photos without
    faces are copied unchanged. At the end: a summary, and stylize-report.json in the output folder with the reason
    for every failure. Exit code 1 if any photo failed.
    """
    from stylize.pipeline.batch import REPORT, edit_folder

    targets = parse_targets(ctx.args)
    model = model_for(model_name, targets)
    options = photo_edit_options(device, precision, batch_size, detector, min_face, apply, region, strength,
                                 colour_blur, feather, progress, detect_size)
    s = edit_folder(in_dir, out_dir, model, targets, options, jobs, only_faces, retry_failed, dry_run,
                    log=click.echo, ray=ray_address)
    if dry_run:
        return
    click.echo(f"processed {s.processed}, skipped (done before) {s.done_before}, no face {s.no_face}, "
               f"failed {s.failed}" + (f" (+{s.failed_before} in earlier runs)" if s.failed_before else "")
               + f"; {s.processed / max(s.seconds, 1e-9):.1f} photos/s; report: {out_dir / REPORT}", err=True)
    for f in s.failures[:10]:
        click.echo(f"  failed: {f['file']}: {f['reason']}", err=True)
    if s.failed or s.failed_before:
        ctx.exit(1)


@click.command("videos", cls=TargetCommand, context_settings=TARGET_CONTEXT)
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: each video under its own name (a folder's tree is mirrored).")
@common_options
@video_options
@click.option("--retry-failed", is_flag=True, help="Try again the videos that failed in an earlier run.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="One Ray task per video on a cluster: `--ray auto` joins this machine's cluster, `--ray` alone "
                   "starts Ray here. Needs `pip install \"stylize[ray]\"`; files must be reachable from every node.")
@click.pass_context
@fail_cleanly
def videos_cmd(ctx: click.Context, source: Path, out_dir: Path, model_name: str | None, retry_failed: bool,
               ray_address: str | None, **opts) -> None:
    """Edit many videos: SOURCE is a folder (searched recursively) or a text file listing one video per line,
    e.g. `stylize videos clips/ -o edited/ --hair blond --ray auto`.

    Resumable: a re-run skips the videos already done with the same model, target and options. Writes
    stylize-videos.json and .csv in the output folder (per video: frames, faces, tracks, fps, status, error). Exit
    code 1 if any video failed.
    """
    from stylize.pipeline.videos import REPORT, edit_videos

    targets = parse_targets(ctx.args)
    model = model_for(model_name, targets)
    options = video_edit_options(**opts)
    rows = edit_videos(source, out_dir, model, targets, options, ray_address, retry_failed, log=click.echo)
    failed = [r for r in rows if r["status"] == "failed"]
    click.echo(f"{len(rows) - len(failed)} videos done, {len(failed)} failed; report: "
               f"{out_dir / (REPORT + '.json')}", err=True)
    for r in failed[:10]:
        click.echo(f"  failed: {r['video']}: {r['error']}", err=True)
    if failed:
        ctx.exit(1)
