"""`deconv-gui restore` with several models, recipes, Amount/Detail, and `analyze`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deconv_gui import cli
from deconv_gui.core.degrade import parse_spec
from deconv_gui.core.image import ImageMeta
from deconv_gui.core.io import load_image, save_image
from deconv_gui.core.recipe import Recipe, RecipeStep, save_recipe


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    base = np.clip(0.5 + 0.2 * rng.standard_normal((48, 64, 3)), 0, 1).astype(np.float32)
    p = tmp_path / "in" / "p.png"
    p.parent.mkdir()
    save_image(p, base, ImageMeta())
    return p


def test_models_in_a_row_and_amount(photo, tmp_path, capsys) -> None:
    out = tmp_path / "out.png"
    rc = cli.main(
        [
            "restore",
            str(photo),
            "--model",
            "lanczos-x2,bicubic-x2",
            "-o",
            str(out),
            "--threads",
            "1",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert load_image(out).rgb.shape == (192, 256, 3)
    half = tmp_path / "half.png"
    rc = cli.main(
        ["restore", str(photo), "--model", "lanczos-x2", "-o", str(half), "--amount", "0"]
    )
    assert rc == 0
    # Amount 0: the "before" itself, i.e. the input enlarged with Lanczos (same model here)
    same = tmp_path / "same.png"
    cli.main(["restore", str(photo), "--model", "lanczos-x2", "-o", str(same)])
    assert np.abs(load_image(half).rgb - load_image(same).rgb).max() <= 1 / 255


def test_recipe_file_and_default_name(photo, tmp_path, capsys) -> None:
    recipe = save_recipe(
        Recipe((RecipeStep("nlm-denoise", strength=10), RecipeStep("lanczos-x2")), "web"),
        tmp_path / "web.json",
    )
    rc = cli.main(["restore", str(photo), "--recipe", str(recipe)])
    assert rc == 0, capsys.readouterr().err
    written = photo.with_name("p_restored_x2.png")
    assert load_image(written).rgb.shape == (96, 128, 3)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--model", "nlm-denoise,lanczos-x2", "--strength", "5"], "ambiguous"),
        (["--model", "nlm-denoise", "--amount", "150"], "between 0 and 100"),
        (["--model", "nlm-denoise", "--detail", "nan"], "--detail"),
        (["--model", "nlm-denoise,nope"], "unknown model 'nope'"),
    ],
)
def test_bad_recipe_options_are_one_error_line(photo, capsys, extra, words) -> None:
    rc = cli.main(["restore", str(photo), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0]
    assert "unexpected" not in err[0]


def test_analyze_suggests_in_plain_words(tmp_path, capsys) -> None:
    rng = np.random.default_rng(1)
    clean = np.clip(np.kron(rng.random((12, 16, 3)), np.ones((50, 80, 1))), 0, 1).astype(np.float32)
    noisy = parse_spec("noise=20").apply(clean, seed=0)
    p = tmp_path / "noisy.png"
    save_image(p, noisy, ImageMeta())
    assert cli.main(["analyze", str(p)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("noisy.png: Noisy (about 2") and "Denoise" in line
    assert cli.main(["analyze", str(p), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)[0]
    assert report["primary"] == "denoise"
    assert report["steps"][0]["model"] == "redunet-denoise-camera"
    assert cli.main(["analyze", str(tmp_path / "missing.png")]) == 1
    missing = tmp_path / "missing.png"
    assert capsys.readouterr().err == f"error: cannot read {missing}: the file does not exist\n"
    # with --json the photo that could not be read is in the list too, with why
    assert cli.main(["analyze", str(p), str(missing), "--json"]) == 1
    reports = json.loads(capsys.readouterr().out)
    assert reports[1] == {"path": str(missing), "error": "the file does not exist"}
    assert reports[0]["primary"] == "denoise"


def test_amount_and_detail_finish_the_last_step_only_as_the_app_does(photo, tmp_path) -> None:
    """``--model a,b --amount 50``: a runs in full, b's result is blended half with a's (the
    app's sliders finish the last step). Given to every step, the photo would come out about
    a third unrestored, and b's Auto would read a half-restored photo."""

    def run(*args: str) -> np.ndarray:
        out = tmp_path / f"out{len(list(tmp_path.glob('out*.png')))}.png"
        assert cli.main(["restore", str(photo), *args, "-o", str(out), "--threads", "1"]) == 0
        return load_image(out).rgb

    def recipe(*amounts: float, detail: float = 0.0) -> str:
        steps = (
            RecipeStep("nlm-denoise", amount=amounts[0]),  # Auto, as --model gives
            RecipeStep("lanczos-x2", amount=amounts[1], detail=detail),
        )
        path = tmp_path / f"r{len(list(tmp_path.glob('r*.json')))}.json"
        return str(save_recipe(Recipe(steps), path))

    chained = run("--model", "nlm-denoise,lanczos-x2", "--amount", "50", "--detail", "30")
    assert np.array_equal(chained, run("--recipe", recipe(1.0, 0.5, detail=0.3)))
    assert not np.allclose(chained, run("--recipe", recipe(0.5, 0.5, detail=0.3)), atol=2 / 255)
    # a recipe's other steps keep their own Amount; only the last one's is replaced
    replaced = run("--recipe", recipe(0.7, 1.0), "--amount", "50", "--detail", "30")
    assert np.array_equal(replaced, run("--recipe", recipe(0.7, 0.5, detail=0.3)))


def test_a_recipes_or_presets_step_is_named_as_such_and_unknown_settings_are_refused(
    photo, tmp_path, capsys
) -> None:
    """A strength out of range in a one-step recipe was said to be "--strength", which the
    command line did not have; a misspelt setting in a step's params was ignored."""

    def error(*args: str) -> str:
        assert cli.main(["restore", str(photo), *args, "-o", str(tmp_path / "o.png")]) == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        return line

    strong = save_recipe(Recipe((RecipeStep("nlm-denoise", strength=500),)), tmp_path / "s.json")
    assert error("--recipe", str(strong)).startswith(
        "error: the recipe's step 1 strength for 'nlm-denoise' (noise level) must be between"
    )
    typo = tmp_path / "t.json"
    typo.write_text(
        '{"steps": [{"model": "wiener-deblur", "params": {"kernel": "gaussian:2", "nsr": 1}}]}'
    )
    assert error("--recipe", str(typo)) == (
        "error: the recipe's step 1 (wiener-deblur): unknown setting 'nsr' in its params "
        "(it takes kernel)"
    )
    from deconv_gui.core.presets import presets_dir

    assert cli.main(["presets", "save", "strong", "--model", "nlm-denoise"]) == 0
    capsys.readouterr()
    saved = presets_dir() / "strong.json"  # edited by hand (saving checks the strength)
    saved.write_text(saved.read_text().replace('"strength": null', '"strength": 500'))
    assert error("--preset", "strong").startswith("error: preset 'strong' step 1 strength for")
    assert cli.main(["presets", "remove", "strong"]) == 0
    assert error("--model", "nlm-denoise", "--strength", "500").startswith(
        "error: --strength for 'nlm-denoise'"
    )


def test_a_preset_saved_with_a_kernel_for_several_models_runs_again(photo, tmp_path, capsys):
    """``--kernel`` goes to the steps that take one: a preset saved with it loads again (the
    upscaler's step had been given the kernel and the preset refused as taking none)."""
    args = ["--model", "wiener-deblur,lanczos-x2", "--kernel", "gaussian:1.5"]
    assert cli.main(["presets", "save", "sharp", *args]) == 0
    from deconv_gui.core.presets import load_preset, remove_preset

    steps = load_preset("sharp").recipe.steps
    assert [st.params for st in steps] == [{"kernel": "gaussian:1.5"}, {}]
    out = tmp_path / "o.png"
    assert cli.main(["restore", str(photo), "--preset", "sharp", "-o", str(out)]) == 0, (
        capsys.readouterr().err
    )
    assert load_image(out).rgb.shape == (96, 128, 3)
    remove_preset("sharp")


def test_percent_and_fraction_mix_ups_and_unknown_output_types_are_said_up_front(
    photo, tmp_path, capsys, caplog
) -> None:
    """The CLI takes Amount in percent, a recipe file as a fraction: each says so when the
    other's number turns up. An output type we cannot write is refused before any work."""
    import logging

    with caplog.at_level(logging.WARNING):
        assert cli.main(["restore", str(photo), "--model", "nlm-denoise", "--amount", "0.8",
                         "-o", str(tmp_path / "a.png")]) == 0  # fmt: skip
    assert "--amount 0.8 is 0.8 % (percent, 0-100: 80 for 80 %)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert cli.main(["restore", str(photo), "--model", "lanczos-x2", "--format", "png",
                         "--quality", "50", "-o", f"{tmp_path / 'q'}/"]) == 0  # fmt: skip
    assert "--quality is for JPEG and WebP: PNG output is lossless and ignores it" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the type named by -o's file name too
        assert cli.main(["restore", str(photo), "--model", "lanczos-x2", "--quality", "50",
                         "-o", str(tmp_path / "q.tif")]) == 0  # fmt: skip
    assert "--quality is for JPEG and WebP: TIF output is lossless and ignores it" in caplog.text
    recipe = tmp_path / "r.json"
    recipe.write_text('{"steps": [{"model": "nlm-denoise", "amount": 80}]}')
    assert cli.main(["restore", str(photo), "--recipe", str(recipe)]) == 1
    assert "got 80.0 (a fraction in a recipe file: 0.8 is 80 %)" in capsys.readouterr().err
    out = tmp_path / "out.xyz"
    assert cli.main(["restore", str(photo), "--model", "nlm-denoise", "-o", str(out)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert (
        line
        == f"error: -o {out}: cannot write '.xyz' (choose one of bmp, dng, jpeg, jpg, png, tif, tiff, webp)"
    )
