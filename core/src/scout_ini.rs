//! Reads the Scout-style INI files of a configuration (behaviour.md, "Scout INI files").

use crate::{Config, Error, Result, ScoutIni};

/// Read each of `config.scout_ini` and apply its entries over `config`, in the order given.
///
/// Logs each ignored entry at debug and their count at info; a file that cannot be read is a
/// configuration error that names it.
pub(crate) fn read_into(config: &mut Config) -> Result<()> {
    for path in config.scout_ini.clone() {
        let name = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|e| Error::config("scout_ini", format!("cannot read {name}: {e}")))?;
        let ini = ScoutIni::parse(&name, &bytes).map_err(|e| Error::config("scout_ini", e.to_string()))?;
        for place in &ini.ignored {
            log::debug!(target: "scoutlb", "ignored INI entry: {place}");
        }
        log::info!(
            target: "scoutlb",
            "{name}: {} entries used, {} ignored",
            ini.settings.len(),
            ini.ignored.len()
        );
        config.apply_scout_ini(&ini)?;
    }
    Ok(())
}
