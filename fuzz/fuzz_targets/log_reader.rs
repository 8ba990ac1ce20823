//! Feeds arbitrary bytes to every entry point of the log reader, as a `.eval` and as a `.json`
//! file. The reader must return an error, never panic, whatever the file holds.

#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("examen-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    for name in ["log.eval", "log.json"] {
        let path = dir.join(name);
        {
            let mut file = std::fs::File::create(&path).expect("temp file");
            file.write_all(data).expect("write temp file");
        }
        for header_only in [true, false] {
            let _ = examen_log::read_log(&path, examen_log::ReadOptions { header_only });
        }
        let _ = examen_log::read_summaries(&path);
        let _ = examen_log::recover(&path);
        if let Ok(reader) = examen_log::LogReader::open(&path) {
            for sample in reader.samples().take(64) {
                let _ = sample;
            }
            let _ = reader.summaries();
        }
    }
});
