//! `results.parquet`: the CSV's columns as a typed Parquet file (Snappy), so the results of
//! many shards combine in any engine that reads Parquet (DuckDB, Spark, pandas/pyarrow).

use std::path::Path;
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::Compression;
use ::parquet::file::properties::WriterProperties;
use arrow_array::{ArrayRef, Float32Array, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use chorder_analysis::offline::SongResult;

use super::output::CSV_COLUMNS;

/// Writes one row per song to `path`: file, sha256 (text), seconds (f64), windows (u64),
/// estimate, interval_low, interval_high (f32, 0-100), coverage (f32, 0-1), percentile (f32,
/// 0-100; each null when absent) and top_tags (text, `name:prob;...`).
pub(super) fn write_parquet(path: &Path, songs: &[SongResult]) -> anyhow::Result<()> {
    let f32_col = |get: &dyn Fn(&SongResult) -> Option<f32>| -> ArrayRef {
        Arc::new(songs.iter().map(get).collect::<Float32Array>())
    };
    let types = [
        (DataType::Utf8, false),
        (DataType::Utf8, true),
        (DataType::Float64, false),
        (DataType::UInt64, false),
        (DataType::Float32, true),
        (DataType::Float32, true),
        (DataType::Float32, true),
        (DataType::Float32, true),
        (DataType::Float32, true),
        (DataType::Utf8, false),
    ];
    let schema = Arc::new(Schema::new(
        CSV_COLUMNS
            .iter()
            .zip(types)
            .map(|(name, (ty, nullable))| Field::new(*name, ty, nullable))
            .collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            songs.iter().map(|s| s.file.as_str()),
        )),
        Arc::new(
            songs
                .iter()
                .map(|s| s.sha256.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(Float64Array::from_iter_values(
            songs.iter().map(|s| s.seconds),
        )),
        Arc::new(UInt64Array::from_iter_values(
            songs.iter().map(|s| s.windows as u64),
        )),
        f32_col(&|s| s.estimate),
        f32_col(&|s| s.interval.map(|i| i[0])),
        f32_col(&|s| s.interval.map(|i| i[1])),
        f32_col(&|s| s.coverage),
        f32_col(&|s| s.percentile),
        Arc::new(StringArray::from_iter_values(songs.iter().map(|s| {
            s.top_tags
                .iter()
                .map(|(n, p)| format!("{n}:{p:.3}"))
                .collect::<Vec<_>>()
                .join(";")
        }))),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let file = std::fs::File::create(path)?;
    let mut w = ArrowWriter::try_new(file, schema, Some(props))?;
    w.write(&batch)?;
    w.close()?;
    Ok(())
}
