"""``stylize``: the user's commands. Parses, validates and reports; the work is in ``stylize.pipeline``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import CONTEXT, fail_cleanly
from .edit import image_cmd, images_cmd, video_cmd, videos_cmd


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="stylize")
def main() -> None:
    """Edit people in videos and photo folders with StarGAN.

    \b
      stylize video in.mp4 --hair blond -o out.mp4      every face in a video
      stylize image photo.jpg --hair blond -o out.jpg   one photo
      stylize images photos/ -o edited/ --hair blond    a folder, resumable (--ray: on a cluster)
      stylize videos clips/ -o edited/ --hair blond     many videos, resumable (--ray: on a cluster)
      stylize models                                    models and their options

    Each face is detected (dlib), aligned to the model's template, translated by the model's generator, smoothed
    over time and pasted back; video keeps its frame rate, size, length and sound.
    """


main.add_command(video_cmd)
main.add_command(image_cmd)
main.add_command(images_cmd)
main.add_command(videos_cmd)


@main.command("models")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@fail_cleanly
def models_cmd(files: tuple[Path, ...]) -> None:
    """List the bundled models (and any model FILES given) with their groups and values.

    The groups are the options `stylize video` and `stylize image` accept: a model with group `hair` and values
    black/blond takes `--hair blond`.
    """
    from stylize.models.catalogue import bundled_models, read_metadata
    from stylize.models.schema import DomainSchema

    entries = [(name, path) for name, path in bundled_models().items()] + [(str(f), f) for f in files]
    if not entries:
        click.echo("no bundled models and no files given")
        return
    for name, path in entries:
        meta = read_metadata(path)
        schema = DomainSchema.from_json(meta["schema"])
        click.echo(f"{name}: {meta['image_size']} px, "
                   f"{'face-aligned' if meta['alignment']['kind'] == 'face' else 'whole image'}"
                   + (f", colour blur {meta['colour_blur']:g}%" if meta.get("colour_blur") else "")
                   + (f", feather {meta['feather']:g}" if "feather" in meta else ""))
        for g in schema.groups:
            click.echo(f"    --{g.name} {'|'.join(g.values)}")


@main.command("info")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print the full metadata as JSON.")
@fail_cleanly
def info_cmd(model: str, as_json: bool) -> None:
    """Show what a model file (or bundled model name) says about itself: sizes, domains, template, provenance."""
    from stylize.models.catalogue import read_metadata, resolve_model_path

    path = resolve_model_path(model)
    meta = read_metadata(path)
    if as_json:
        click.echo(json.dumps(meta, indent=2))
        return
    g, d = meta["generator"], meta.get("discriminator")
    click.echo(f"file:       {path} ({path.stat().st_size / 1e6:.1f} MB)")
    click.echo(f"image size: {meta['image_size']}")
    arch = g.get("arch", "stargan") + ("" if g.get("mask", True) else " (no mask)")
    arch += {"affine": ", colour image: the input recoloured (affine)",
             "global": ", colour image: the input recoloured (one affine map per face)"}.get(g.get("colour"), "")
    arch += (", low-pass mask" + (" and colour grid" if g.get("colour") == "affine" else "")) if g.get("smooth") else ""
    arch += ", bilinear up-sampling" if g.get("upsample") == "bilinear" else ""
    click.echo(f"generator:  {arch}, conv_dim {g['conv_dim']}, repeat_num {g['repeat_num']}, c_dim {g['c_dim']}; "
               f"applied as its {meta.get('apply', 'change')}"
               + (f", its colour blurred over {meta['colour_blur']:g}% of the crop" if meta.get("colour_blur") else "")
               + (f", its paste faded over {meta['feather']:g} of the crop at the edge" if "feather" in meta else ""))
    click.echo("discriminator: " + ("none" if not d else
                                    f"conv_dim {d['conv_dim']}, repeat_num {d['repeat_num']}, c_dim {d['c_dim']}"
                                    + ("; real/fake conditioned on the labels (projection)"
                                       if d.get("projection") else "")))
    for s in meta["schema"]:
        for grp in s["groups"]:
            click.echo(f"group:      {grp['name']} ({grp['kind']}): {', '.join(grp['values'])}  [{s['name']}]")
    click.echo(f"alignment:  {meta['alignment']['kind']} — {meta['alignment'].get('source', '')}")
    prov = meta.get("provenance", {})
    for key in ("trainer", "dataset", "steps", "train_seconds", "train_cpu_seconds", "device", "arithmetic", "eval",
                "imported_from"):
        if key in prov:
            click.echo(f"{key + ':':<11} {json.dumps(prov[key]) if isinstance(prov[key], dict) else prov[key]}")
    link = prov.get("started_from")  # `stylize-train --init-from`: each file it went on from, newest first
    while isinstance(link, dict):
        click.echo(f"{'from:':<11} {link.get('file', '?')} at step {link.get('steps', '?')}, itself trained "
                   f"{link.get('train_seconds', '?')} s ({link.get('train_cpu_seconds', '?')} CPU s) on "
                   f"{link.get('device', '?')}")
        link = link.get("started_from")


@main.command("import-stargan")
@click.argument("generator", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--discriminator", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The matching -D.ckpt: lets stylize keep unnamed attributes as the person's own.")
@click.option("--attrs", required=True,
              help="The attributes the model was trained with, in order, comma-separated, e.g. "
                   "Black_Hair,Blond_Hair,Brown_Hair,Male,Young (CelebA) or the 8 RaFD expressions.")
@click.option("--image-size", type=int, help="Training image size (read from --discriminator when given).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The model file to write (.safetensors).")
@fail_cleanly
def import_cmd(generator: Path, discriminator: Path | None, attrs: str, image_size: int | None,
               output: Path) -> None:
    """Convert an original StarGAN checkpoint (200000-G.ckpt) into a stylize model file.

    Sizes (conv_dim, repeat_num, c_dim) are read from the tensors; the checkpoint is read with
    torch.load(weights_only=True), so it cannot run code.
    """
    from stylize.models.importer import import_stargan

    if not output.parent.exists():
        raise click.ClickException(f"output folder {output.parent} does not exist")
    names = [a.strip() for a in attrs.split(",") if a.strip()]
    path = import_stargan(generator, output, names, image_size, discriminator)
    click.echo(f"wrote {path}")



if __name__ == "__main__":
    main()
