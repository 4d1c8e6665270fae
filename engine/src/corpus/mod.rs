//! A generated corpus of synthetic songs whose popularity is a KNOWN function of their
//! musical properties: a test bed for the whole pipeline (import → features → model →
//! evaluation) where the right answer is known. A model trained on it is a demonstration,
//! not a predictor of real popularity.
//!
//! # Songs
//! Each song `i` of a corpus with seed `K` draws its [`SongProperties`] from a ChaCha8 stream
//! keyed by SHA-256(`"chorder-corpus-props-v1"`, K, i):
//!
//! | property | distribution | what it changes in the audio |
//! |---|---|---|
//! | `tempo_bpm` | uniform 70–170 | beat grid of every layer |
//! | `key`, `major` | uniform 0–11; major with p = 0.6 | scale, chords, bass, melody |
//! | `brightness` | uniform 0–1 | low-pass cutoff `800·12^b` Hz, harmonics, hat level |
//! | `density` | uniform 0–1 | hat subdivision, extra kick, bass eighths, melody notes/rests |
//! | `dynamics` | uniform 0–1 | quiet sections at gain `1 − 0.7·dynamics`, sparser when > 0.5 |
//! | `sections` | uniform 1–6 | equal-length sections alternating quiet/loud; ≥ 3: intro without kick/snare |
//! | `noise` | uniform 0–1 | white-noise floor at `0.12·noise` before the low-pass |
//!
//! Layers: kick (pitch-swept sine 120→50 Hz), snare (noise burst + 180 Hz body), hat
//! (differenced noise), bass (chord root, up to 6 harmonics), pad (the bar's triad, two
//! detuned voices), melody (random walk on the scale), noise. One chord per bar from a
//! I–V–vi–IV-like progression. Mono, 16-bit WAV at 22050 or 44100 Hz, peak −1 dBFS.
//! Audio is bit-identical for the same seed on every platform (only IEEE basic arithmetic
//! is used; no platform `sin`/`exp`).
//!
//! # Popularity formula
//! With `g(x; μ, σ) = exp(−½((x − μ)/σ)²)`:
//!
//! ```text
//! target = 100 · clamp( 0.08
//!                     + 0.30 · g(tempo_bpm; 118, 18)
//!                     + 0.20 · g(brightness; 0.55, 0.20)
//!                     + 0.16 · (1 − e^(−2.5·density)) / (1 − e^(−2.5))
//!                     + 0.10 · 4·dynamics·(1 − dynamics)
//!                     + 0.10 · (1 − 0.5^(sections − 1))
//!                     + 0.06 · [major]
//!                     − 0.14 · noise , 0, 1)
//! popularity = clamp(round(target + 6·z), 0, 100),  z ~ N(0, 1) from the same stream
//! ```
//! So: a bell curve around 118 BPM, brightness best in the middle, more density raises it
//! with diminishing returns, moderate dynamics best, more sections (up to a point) better,
//! major slightly better, noise lowers it. `target` is the noiseless value
//! ([`popularity_target`]); `popularity` is the label written to the corpus.
//!
//! # Output layout ([`generate`])
//! ```text
//! OUT/audio/<id>.wav                         16-bit mono WAV per song
//! OUT/manifest.csv                           path,popularity,id,<properties>,target
//! OUT/spotgentrack/Data Sources/spotify_tracks.csv    (real column names, unnamed index,
//! OUT/spotgentrack/Data Sources/spotify_albums.csv     multi-line lyrics, Python lists)
//! OUT/spotgentrack/Data Sources/spotify_artists.csv
//! OUT/spotgentrack/Features Extracted/low_level_audio_features.csv  (207 columns)
//! ```
//! The low-level feature values are placeholders derived from the properties, not computed
//! from the audio (see [`placeholder_features`]); recompute them with the features module.

mod detmath;
mod layout;
mod rng;
mod synth;

pub use layout::{placeholder_features, write_metadata, write_wav};
pub use synth::brightness_cutoff_hz;

use std::path::{Path, PathBuf};

/// Errors of corpus generation.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// Options out of range.
    #[error("invalid corpus options: {0}")]
    InvalidOptions(String),
    /// A file or folder could not be created or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A WAV file could not be written.
    #[error("{}: cannot write WAV: {source}", path.display())]
    Wav { path: PathBuf, source: hound::Error },
    /// A CSV file could not be written.
    #[error("{}: cannot write CSV: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusOptions {
    /// Number of songs, at least 1.
    pub songs: usize,
    /// Length of each song in seconds, in `(0, 600]`.
    pub seconds: f64,
    /// Seed: the same seed gives bit-identical output.
    pub seed: u64,
    /// Output sample rate in Hz: 22050 or 44100.
    pub sample_rate: u32,
}

impl CorpusOptions {
    /// Checks the ranges documented on each field.
    pub fn validate(&self) -> Result<(), CorpusError> {
        if self.songs == 0 {
            return Err(CorpusError::InvalidOptions(
                "songs must be at least 1".into(),
            ));
        }
        if !(self.seconds > 0.0 && self.seconds <= 600.0) {
            return Err(CorpusError::InvalidOptions(format!(
                "seconds must be in (0, 600], got {}",
                self.seconds
            )));
        }
        if self.sample_rate != 22050 && self.sample_rate != 44100 {
            return Err(CorpusError::InvalidOptions(format!(
                "sample rate must be 22050 or 44100 Hz, got {}",
                self.sample_rate
            )));
        }
        Ok(())
    }
}

/// The musical properties of one generated song (ranges in the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SongProperties {
    /// Tempo in beats per minute, 70–170.
    pub tempo_bpm: f64,
    /// Key as a pitch class, 0 = C … 11 = B.
    pub key: u8,
    /// Major (`true`) or natural minor.
    pub major: bool,
    /// Spectral brightness, 0–1.
    pub brightness: f64,
    /// Rhythmic and melodic density, 0–1.
    pub density: f64,
    /// Loudness contrast between sections, 0–1.
    pub dynamics: f64,
    /// Number of sections, 1–6.
    pub sections: u32,
    /// Background noise level, 0–1.
    pub noise: f64,
}

/// One planned song: identity, properties and popularity.
#[derive(Debug, Clone, PartialEq)]
pub struct SongSpec {
    /// Position in the corpus, 0-based.
    pub index: usize,
    /// 22-character base-62 id (Spotify-like), derived from seed and index.
    pub id: String,
    /// The drawn properties.
    pub properties: SongProperties,
    /// Noiseless popularity, [`popularity_target`] of the properties (0–100).
    pub target: f64,
    /// The label: `target` plus N(0, 6²) noise, rounded and clamped to 0–100.
    pub popularity: f64,
}

/// Draws song `index`'s properties for `seed` (independent of every other song).
pub fn draw_properties(seed: u64, index: usize) -> SongProperties {
    draw(seed, index).0
}

fn draw(seed: u64, index: usize) -> (SongProperties, rng::Rng) {
    let mut r = rng::Rng::new("chorder-corpus-props-v1", seed, index as u64);
    let p = SongProperties {
        tempo_bpm: r.range(70.0, 170.0),
        key: r.int(0, 11) as u8,
        major: r.unit() < 0.6,
        brightness: r.unit(),
        density: r.unit(),
        dynamics: r.unit(),
        sections: r.int(1, 6),
        noise: r.unit(),
    };
    (p, r)
}

fn bell(x: f64, mu: f64, sigma: f64) -> f64 {
    let z = (x - mu) / sigma;
    detmath::exp(-0.5 * z * z)
}

/// The noiseless popularity (0–100) of a song with these properties: the formula in the
/// module docs. Smooth in every continuous property.
pub fn popularity_target(p: &SongProperties) -> f64 {
    let density = (1.0 - detmath::exp(-2.5 * p.density)) / (1.0 - detmath::exp(-2.5));
    let structure = 1.0 - 0.5f64.powi(p.sections.max(1) as i32 - 1);
    let s = 0.08
        + 0.30 * bell(p.tempo_bpm, 118.0, 18.0)
        + 0.20 * bell(p.brightness, 0.55, 0.20)
        + 0.16 * density
        + 0.10 * 4.0 * p.dynamics * (1.0 - p.dynamics)
        + 0.10 * structure
        + 0.06 * if p.major { 1.0 } else { 0.0 }
        - 0.14 * p.noise;
    100.0 * s.clamp(0.0, 1.0)
}

/// Standard deviation of the label noise added to [`popularity_target`], in popularity
/// points.
pub const LABEL_NOISE_SD: f64 = 6.0;

fn song_id(seed: u64, index: usize) -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let d = rng::digest("chorder-corpus-id-v1", seed, index as u64);
    d.iter()
        .take(22)
        .map(|b| B62[(*b as usize) % 62] as char)
        .collect()
}

/// Plans song `index` of a corpus with `seed`: id, properties, target and label.
pub fn plan_song(seed: u64, index: usize) -> SongSpec {
    let (properties, mut r) = draw(seed, index);
    let target = popularity_target(&properties);
    let popularity = (target + LABEL_NOISE_SD * r.normal())
        .round()
        .clamp(0.0, 100.0);
    SongSpec {
        index,
        id: song_id(seed, index),
        properties,
        target,
        popularity,
    }
}

/// Plans every song of a corpus (cheap: no audio).
pub fn plan(options: &CorpusOptions) -> Result<Vec<SongSpec>, CorpusError> {
    options.validate()?;
    Ok((0..options.songs)
        .map(|i| plan_song(options.seed, i))
        .collect())
}

/// Renders a song's audio: mono samples in `[-1, 1]` at `options.sample_rate`,
/// `round(seconds · sample_rate)` long. Deterministic in (`options.seed`, `spec.index`).
pub fn render(spec: &SongSpec, options: &CorpusOptions) -> Vec<f32> {
    let mut r = rng::Rng::new("chorder-corpus-audio-v1", options.seed, spec.index as u64);
    synth::render(
        &spec.properties,
        options.seconds,
        options.sample_rate,
        &mut r,
    )
}

/// Folder of the generated audio under `out`.
pub fn audio_dir(out: &Path) -> PathBuf {
    out.join("audio")
}

/// Path of a song's WAV file under `out`: `out/audio/<id>.wav`.
pub fn audio_path(out: &Path, spec: &SongSpec) -> PathBuf {
    audio_dir(out).join(format!("{}.wav", spec.id))
}

/// Folder of the SpotGenTrack-like copy under `out` (pass it to
/// [`crate::dataset::import_spotgentrack`] with [`audio_dir`] as the audio folder).
pub fn spotgentrack_dir(out: &Path) -> PathBuf {
    out.join("spotgentrack")
}

/// Generates a whole corpus into `out` (created if needed), one song after another, calling
/// `progress(done, total)` after each song. Returns the planned songs.
pub fn generate(
    options: &CorpusOptions,
    out: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<SongSpec>, CorpusError> {
    let specs = plan(options)?;
    let dir = audio_dir(out);
    std::fs::create_dir_all(&dir).map_err(|source| CorpusError::Io { path: dir, source })?;
    for (done, spec) in specs.iter().enumerate() {
        write_wav(
            &audio_path(out, spec),
            &render(spec, options),
            options.sample_rate,
        )?;
        progress(done + 1, specs.len());
    }
    write_metadata(out, &specs, options)?;
    Ok(specs)
}
