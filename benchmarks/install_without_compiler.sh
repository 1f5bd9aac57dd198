#!/bin/bash
# A source installation on a machine without a C compiler: the checkout's
# files (tracked and new, as `git ls-files` lists them) are installed with
# `pip install .` into a new venv while no compiler can be found (PATH
# without gcc/cc/clang, CC=/bin/false), then zoomify-tile tiles an image
# with the numpy box mean, and the tiles are compared with those of the
# project's own venv (built with the C). Needs the package index (pip
# downloads the dependencies) and `make install` (.venv) for the
# comparison. Prints a table of the steps; exits non-zero on a failure.
#
#   benchmarks/install_without_compiler.sh [WIDTH HEIGHT]   # 4000 3000
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD
width=${1:-4000}
height=${2:-3000}
python=${PYTHON:-python3}
python=$(command -v "$python")
work=$(mktemp -d /tmp/zoomify-nocc.XXXXXX)
trap 'rm -rf "$work"' EXIT

# a PATH holding every program of the system's but the compilers
mkdir -p "$work/bin"
for dir in /usr/local/bin /usr/bin /bin; do
    for program in "$dir"/*; do
        name=${program##*/}
        case $name in
            gcc*|cc|c++|g++*|cpp*|clang*|tcc|*-gcc*|*-g++*|*-cc) continue;;
        esac
        [ -e "$work/bin/$name" ] || ln -s "$program" "$work/bin/$name"
    done
done
nocc=(env PATH="$work/bin" CC=/bin/false CXX=/bin/false)
if "${nocc[@]}" sh -c 'command -v gcc || command -v cc || command -v clang'
then
    echo "a compiler is still on the PATH" >&2; exit 1
fi

git ls-files -co --exclude-standard -z | grep -zv '^node_modules/' \
    | tar -c --null -T - -f - | (mkdir "$work/src" && tar -x -C "$work/src")

# from here on away from the checkout: `python -c` imports from the
# working directory first
cd "$work"
rows=()
step() {   # step NAME COMMAND...: run it, note its seconds
    local name=$1 start end
    shift
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    rows+=("$(printf '| %-44s | %6.1f s |' "$name" "$(echo "$end - $start" | bc)")")
}

step "python -m venv (no compiler on PATH)" \
    "${nocc[@]}" "$python" -m venv "$work/venv"
step "pip install . (no compiler; -v to see why)" \
    sh -c "\"\$@\" '$work/venv/bin/pip' install -v '$work/src' \
        >'$work/pip.log' 2>&1" - "${nocc[@]}"
grep -q "C box mean (ZoomifyImage/pyramid/_boxmean.c) was not compiled" \
    "$work/pip.log" || { echo "setup.py did not say so" >&2; exit 1; }
if find "$work/venv" -name '_boxmean*.so' | grep -q .; then
    echo "an extension was built after all" >&2; exit 1
fi
"$work/venv/bin/python" -c "
from ZoomifyImage.pyramid import boxmean
assert not boxmean.compiled, 'the C was found'"

"$work/venv/bin/python" -c "
import numpy as np
from PIL import Image
y, x = np.mgrid[0:$height, 0:$width]
rgb = np.stack([x * 255 // $width, y * 255 // $height,
                (x * y) % 256], -1).astype(np.uint8)
Image.fromarray(rgb).save('$work/image.jpg', quality=90)"
step "zoomify-tile ${width}x${height}, numpy box mean" \
    "${nocc[@]}" "$work/venv/bin/zoomify-tile" --quiet "$work/image.jpg" \
    "$work/numpy"
if [ -x "$here/.venv/bin/zoomify-tile" ]; then
    step "zoomify-tile ${width}x${height}, C box mean (.venv)" \
        "$here/.venv/bin/zoomify-tile" --quiet "$work/image.jpg" "$work/c"
    diff -r "$work/numpy" "$work/c" >/dev/null \
        || { echo "the numpy tiles differ from the C's" >&2; exit 1; }
    same="identical: $(find "$work/c" -type f | wc -l) files"
else
    same="not compared (no .venv: make install)"
fi

echo "| step                                         |    wall  |"
echo "|----------------------------------------------|----------|"
printf '%s\n' "${rows[@]}"
echo
echo "pip said: $(grep -m1 -o 'the C box mean.*was not compiled' "$work/pip.log")"
echo "tiles of the numpy and the C box mean: $same"
