//! Streaming sample-rate conversion (rubato's FFT resampler) that is independent of how the
//! input is split into blocks.
//!
//! Input: mono `f32` at `in_rate` Hz, in blocks of any size. Output: mono `f32` at `out_rate`
//! Hz, time-aligned with the input (the resampler's delay is removed) and, after
//! [`StreamingResampler::finish`], exactly `ceil(n_in * out_rate / in_rate)` samples long.
//! Internally input is gathered into fixed chunks, so the output is bit-identical whatever
//! the host block sizes were.

use rubato::{FftFixedIn, Resampler};

use crate::error::FrontEndError;

/// Rubato sub-chunks per input chunk.
const SUB_CHUNKS: usize = 2;
/// Approximate input samples per FFT sub-chunk.
const SUBCHUNK_TARGET: usize = 512;
/// Initial capacity of the pending-input buffer.
const CHUNK_IN: usize = 1024;

/// Input chunk length for rubato's `FftFixedIn` such that each FFT spans a whole number of
/// rate periods and both its input and output lengths are even: the resampler's delay
/// (`fft_size_out / 2` output samples, the filter centre at `fft_size_in / 2`) is then exact, and the output is aligned with the input to the sample.
fn chunk_size_in(in_rate: u32, out_rate: u32) -> usize {
    let g = gcd(in_rate as usize, out_rate as usize);
    let (a, b) = (in_rate as usize / g, out_rate as usize / g);
    let mut m = (SUBCHUNK_TARGET as f64 / a as f64).round().max(1.0) as usize;
    while (a * m) % 2 == 1 || (b * m) % 2 == 1 {
        m += 1;
    }
    SUB_CHUNKS * a * m
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Block-size-independent mono resampler. With equal rates it passes samples through.
pub struct StreamingResampler {
    in_rate: u32,
    out_rate: u32,
    inner: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
    out_buf: Vec<Vec<f32>>,
    /// Leading output samples still to drop (the resampler's group delay).
    delay_left: usize,
    samples_in: u64,
    samples_out: u64,
}

impl StreamingResampler {
    /// A resampler from `in_rate` to `out_rate` Hz. Fails for a zero rate or a ratio
    /// rubato cannot build.
    pub fn new(in_rate: u32, out_rate: u32) -> Result<Self, FrontEndError> {
        if in_rate == 0 || out_rate == 0 {
            return Err(FrontEndError::SampleRate { in_rate, out_rate });
        }
        let inner = if in_rate == out_rate {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(
                    in_rate as usize,
                    out_rate as usize,
                    chunk_size_in(in_rate, out_rate),
                    SUB_CHUNKS,
                    1,
                )
                .map_err(|e| FrontEndError::Resampler(e.to_string()))?,
            )
        };
        let (out_buf, delay_left) = match &inner {
            Some(r) => (vec![vec![0.0; r.output_frames_max()]], r.output_delay()),
            None => (Vec::new(), 0),
        };
        Ok(Self {
            in_rate,
            out_rate,
            inner,
            pending: Vec::with_capacity(2 * CHUNK_IN),
            out_buf,
            delay_left,
            samples_in: 0,
            samples_out: 0,
        })
    }

    /// Input rate, Hz.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// Output rate, Hz.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// Resamples `input`, appending whatever output is ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.samples_in += input.len() as u64;
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            self.samples_out += input.len() as u64;
            return;
        };
        self.pending.extend_from_slice(input);
        let chunk = inner.input_frames_next();
        let mut start = 0;
        while self.pending.len() - start >= chunk {
            let (_, written) = inner
                .process_into_buffer(
                    &[&self.pending[start..start + chunk]],
                    &mut self.out_buf,
                    None,
                )
                .expect("chunk and buffer sizes come from the resampler");
            start += chunk;
            let produced = &self.out_buf[0][..written];
            let skip = self.delay_left.min(produced.len());
            self.delay_left -= skip;
            out.extend_from_slice(&produced[skip..]);
            self.samples_out += (produced.len() - skip) as u64;
        }
        self.pending.drain(..start);
    }

    /// Flushes the tail: after this the total output is `ceil(n_in * out_rate / in_rate)`
    /// samples. The resampler is then reset for a new stream.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        let expected = (self.samples_in * self.out_rate as u64).div_ceil(self.in_rate as u64);
        if let Some(inner) = self.inner.as_ref() {
            let chunk = inner.input_frames_next();
            let saved_in = self.samples_in;
            while self.samples_out < expected {
                let fill = chunk - self.pending.len() % chunk;
                let zeros = vec![0.0; fill];
                self.push(&zeros, out);
            }
            self.samples_in = saved_in;
            let excess = (self.samples_out - expected) as usize;
            out.truncate(out.len() - excess);
        }
        self.reset();
    }

    /// Drops all state; the next sample starts a new stream.
    pub fn reset(&mut self) {
        if let Some(inner) = self.inner.as_mut() {
            inner.reset();
            self.delay_left = inner.output_delay();
        }
        self.pending.clear();
        self.samples_in = 0;
        self.samples_out = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(in_rate: u32, input: &[f32], blocks: &[usize]) -> Vec<f32> {
        let mut r = StreamingResampler::new(in_rate, 16_000).unwrap();
        let mut out = Vec::new();
        let (mut pos, mut i) = (0, 0);
        while pos < input.len() {
            let n = blocks[i % blocks.len()].min(input.len() - pos);
            r.push(&input[pos..pos + n], &mut out);
            pos += n;
            i += 1;
        }
        r.finish(&mut out);
        out
    }

    fn sine(rate: u32, hz: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin() as f32)
            .collect()
    }

    #[test]
    fn length_and_alignment_of_a_resampled_sine() {
        for rate in [22_050, 44_100, 48_000, 96_000, 192_000] {
            let n = rate as usize; // one second
            let out = run(rate, &sine(rate, 440.0, n), &[4096]);
            assert_eq!(out.len(), 16_000, "rate {rate}");
            // Away from the edges the output is the same sine at 16 kHz, in phase.
            let expect = sine(16_000, 440.0, 16_000);
            let err = out[2000..14000]
                .iter()
                .zip(&expect[2000..14000])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 2e-3, "rate {rate}: max error {err}");
        }
    }

    #[test]
    fn output_does_not_depend_on_block_sizes() {
        let input = sine(44_100, 1234.5, 30_000);
        let a = run(44_100, &input, &[30_000]);
        let b = run(44_100, &input, &[1, 64, 511, 4096]);
        assert_eq!(a, b);
    }

    #[test]
    fn equal_rates_pass_through() {
        let input = sine(16_000, 100.0, 1000);
        assert_eq!(run(16_000, &input, &[7]), input);
    }
}
