#!/usr/bin/env bash
# Regenerate fixtures/audio/* from freely licensed music shipped in Debian 12 (bookworm).
#
# Requirements: apt-get, dpkg, ffmpeg (Debian 5.1.x, with libmp3lame + libvorbis), sha256sum.
#   apt-get install ffmpeg sox
#
# The source packages are fetched with `apt-get download` and unpacked with
# `dpkg -x` into $EXTRACT (default /tmp/x/<package>); nothing is installed.
# If $EXTRACT/<package> already exists it is reused.
#
# Usage (from the repository root):
#   scripts/make_audio_fixtures.sh            # writes fixtures/audio/
#   EXTRACT=/some/dir scripts/make_audio_fixtures.sh
#
# Notes
#  * Every derived file is made from the SAME 16-bit master (rock.wav), so
#    rock_s24/s32/f32 are exact rescalings of the first 3 s of rock.wav
#    (s24 = s16<<8, s32 = s16<<16, f32 = s16/32768) and rock.flac decodes
#    bit-identically to rock.wav.
#  * -fflags +bitexact / -flags:a +bitexact keep encoder version strings out of
#    the files; -map_metadata -1 drops the tags.
#  * Lossy outputs (mp3/ogg/m4a) depend on the encoder versions; they are
#    committed, so regenerating is only needed to audit provenance.
set -euo pipefail

EXTRACT=${EXTRACT:-/tmp/x}
DEBS=${DEBS:-/tmp/debs}
OUT=${OUT:-fixtures/audio}
mkdir -p "$OUT" "$EXTRACT" "$DEBS"

fetch() { # package
  local pkg=$1
  if [ ! -d "$EXTRACT/$pkg" ]; then
    (cd "$DEBS" && apt-get download "$pkg")
    mkdir -p "$EXTRACT/$pkg"
    dpkg -x "$DEBS/${pkg}"_*.deb "$EXTRACT/$pkg"
  fi
}

fetch hedgewars-data        # tested with 1.0.2-6
fetch wesnoth-1.16-music    # tested with 1:1.16.9-1

ROCK_SRC="$EXTRACT/hedgewars-data/usr/share/games/hedgewars/Data/Music/Rock.ogg"
PIANO_SRC="$EXTRACT/wesnoth-1.16-music/usr/share/games/wesnoth/1.16/data/core/music/love_theme.ogg"

echo "3208addeb10bde065881b6468ed44818deefcec4409547685e7f9b4aff94f814  $ROCK_SRC"  | sha256sum -c -
echo "d0045ec07380869c1924f48b95b255fd209eabee9b64933848ad7a05eebd6fe5  $PIANO_SRC" | sha256sum -c -

FF="ffmpeg -hide_banner -loglevel error -y"
BX="-map_metadata -1 -fflags +bitexact -flags:a +bitexact"

# --- 10 s masters, sample-exact cut, 16-bit stereo 44.1 kHz --------------------
# rock : Rock.ogg 60.0 s .. 70.0 s  (samples 2646000 .. 3087000 at 44100 Hz)
# piano: love_theme.ogg 40.0 s .. 50.0 s (samples 1764000 .. 2205000)
$FF -i "$ROCK_SRC"  -af "atrim=start_sample=2646000:end_sample=3087000,asetpts=PTS-STARTPTS" \
    -ar 44100 -ac 2 -c:a pcm_s16le $BX "$OUT/rock.wav"
$FF -i "$PIANO_SRC" -af "atrim=start_sample=1764000:end_sample=2205000,asetpts=PTS-STARTPTS" \
    -ar 44100 -ac 2 -c:a pcm_s16le $BX "$OUT/piano.wav"

# --- high bit-depth variants: first 3 s (132300 frames) of rock.wav ------------
for spec in "s24:pcm_s24le" "s32:pcm_s32le" "f32:pcm_f32le"; do
  name=${spec%%:*}; codec=${spec#*:}
  $FF -i "$OUT/rock.wav" -af "atrim=end_sample=132300" -c:a "$codec" $BX "$OUT/rock_${name}.wav"
done

# --- lossless / lossy encodings of the full 10 s rock.wav ----------------------
$FF -i "$OUT/rock.wav" -c:a flac -compression_level 8 $BX "$OUT/rock.flac"
$FF -i "$OUT/rock.wav" -c:a libmp3lame -b:a 192k $BX "$OUT/rock.mp3"
$FF -i "$OUT/rock.wav" -c:a libvorbis -q:a 5 $BX "$OUT/rock.ogg"
$FF -i "$OUT/rock.wav" -c:a aac -b:a 160k $BX "$OUT/rock.m4a"
$FF -i "$OUT/piano.wav" -c:a libvorbis -q:a 5 $BX "$OUT/piano.ogg"

# --- odd rate / channel count: mono 48 kHz, first 5 s of rock.wav --------------
$FF -i "$OUT/rock.wav" -af "atrim=end_sample=220500" -ac 1 -ar 48000 -c:a pcm_s16le $BX "$OUT/rock_48k_mono.wav"

# --- licence texts -------------------------------------------------------------
cp "$EXTRACT/hedgewars-data/usr/share/doc/hedgewars-data/copyright"           "$OUT/LICENSE-hedgewars-data.txt"
cp "$EXTRACT/wesnoth-1.16-music/usr/share/doc/wesnoth-1.16-music/copyright"   "$OUT/LICENSE-wesnoth-1.16-music.txt"
cp "$EXTRACT/hedgewars-data/usr/share/games/hedgewars/Data/Music/credits.txt" "$OUT/CREDITS-hedgewars-music.txt"
cp /usr/share/common-licenses/GPL-2 "$OUT/GPL-2.txt"

ls -l "$OUT"
