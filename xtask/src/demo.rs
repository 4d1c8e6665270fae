//! The built-in demo clip: 10 s of real, freely licensed music (see
//! `fixtures/audio/SOURCES.md`), embedded so that every command has something to analyse on
//! a fresh machine.

use chorder_engine::{AudioError, AudioReader};

/// Name shown for the demo clip (its extension tells the decoder the container).
pub const DEMO_NAME: &str = "demo:rock.mp3";

static DEMO_BYTES: &[u8] = include_bytes!("../../fixtures/audio/rock.mp3");

/// Opens a decoder over the embedded clip.
pub fn demo_reader() -> Result<AudioReader, AudioError> {
    AudioReader::from_bytes(DEMO_NAME, DEMO_BYTES)
}
