//! The standalone Chorder app (cpal or JACK backend; `--help` lists the options).

fn main() {
    nice_plug::nice_export_standalone::<chorder_plugin::Chorder>();
}
