"""What the lab's internet host serves: the outputs of lab/artifacts/<name>.sh, built once.

A recipe is called as `<name>.sh OUTDIR` and writes what the internet host serves under
/<name>/ (a test VPN bundle, source tarballs, package repositories, image archives).
Every recipe gets LAB_ENGINE and LAB_BASE_IMAGE (the base image's tag) in its environment.
Outputs are cached in .lab/cache/artifacts/ by the hash of the recipe and of
lab/artifacts/<name>/, and of the base image's tag for recipes that use LAB_BASE_IMAGE.
"""
import fcntl
import hashlib
import os
import shutil
import time

from .common import ENGINE, LAB_DIR, LAB_HOME, ROOT, hash_tree, run, say

RECIPES = LAB_DIR / "artifacts"


def recipe_digest(recipe, base_image):
    """The cache key of one recipe: its script, its folder, and the base image if it uses it."""
    text = recipe.read_bytes()
    digest = hashlib.sha256(text)
    if b"LAB_BASE_IMAGE" in text:
        digest.update(f"base image {base_image}".encode())
    extra = recipe.with_suffix("")
    if extra.is_dir():
        hash_tree(digest, extra)
    return digest.hexdigest()[:12]


def build_artifacts(base_image, recipes=RECIPES, cache=LAB_HOME / "cache" / "artifacts"):
    """Run each recipe once per version of it; return the output folders, one per recipe."""
    cache.mkdir(parents=True, exist_ok=True)
    # Several labs may come up at once (parallel scenarios): one builder at a time.
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return [_build(recipe, cache, base_image) for recipe in sorted(recipes.glob("*.sh"))]


def _build(recipe, cache, base_image):
    name = recipe.stem
    out = cache / f"{name}-{recipe_digest(recipe, base_image)}" / name
    if not out.is_dir():
        say(f"building lab artifact {name!r} ({os.path.relpath(recipe, ROOT)})")
        started = time.monotonic()
        tmp = out.with_name(name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        run(["bash", str(recipe), str(tmp)], env=dict(os.environ, LAB_ENGINE=ENGINE, LAB_BASE_IMAGE=base_image))
        tmp.rename(out)
        say(f"built lab artifact {name!r} in {time.monotonic() - started:.0f} s")
    return out


def link_or_copy(src, dst):
    """Hard link (artifacts are large and several labs serve the same ones), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def publish(outputs, www):
    """Put the built artifacts in ``www``, replacing what an earlier `up` put there.

    Artifacts are hard-linked from the cache where it shares a filesystem with the lab's
    folder (the Jupyter image archive is a few hundred MB), and copied otherwise.
    """
    for built in outputs:
        target = www / built.name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(built, target, copy_function=link_or_copy)
