//! One bounded scan: installed packages, exposed listeners and host age, assembled into an `Inventory`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use weir_event::Inventory;

use crate::budget::Budget;
use crate::config::ScanConfig;
use crate::package_table::PackageTable;
use crate::{binaries, dpkg_status, exposure, host_age, node_modules, python_dists};

/// Scans the host (or the fixture tree at `config.root`). Never fails: whatever could not be read is named
/// in `Inventory.errors` ("path: reason"), and the scan stops early at its limits. `reason` is left empty
/// for the caller to set.
pub fn scan(config: &ScanConfig) -> Inventory {
    scan_with_budget(config, Budget::new(config.limits.clone()))
}

/// [`scan`] that stops early (noting it in the errors) once `cancel` is set.
pub fn scan_cancellable(config: &ScanConfig, cancel: Arc<AtomicBool>) -> Inventory {
    scan_with_budget(config, Budget::with_cancel(config.limits.clone(), cancel))
}

fn scan_with_budget(config: &ScanConfig, mut budget: Budget) -> Inventory {
    let started = Instant::now();
    let mut table = PackageTable::default();

    let names = dpkg_status::collect(config, &mut table, &mut budget);
    if budget.has_time("python packages") {
        python_dists::collect(config, &mut table, &mut budget);
    }
    if budget.has_time("node packages") {
        node_modules::collect(config, &mut table, &mut budget);
    }
    if budget.has_time("binaries") {
        binaries::collect(config, &mut table, &mut budget);
    }
    let listeners = if config.listeners && budget.has_time("listeners") {
        exposure::listeners(config, &names, &mut table, &mut budget)
    } else {
        Vec::new()
    };
    let age = config.host_age.then(|| host_age::collect(config));
    if table.dropped() > 0 {
        let (n, max) = (table.dropped(), config.limits.max_packages);
        budget.note(format!(
            "{}: {n} packages over the limit of {max} not listed",
            config.root.display()
        ));
    }
    let mut address_errors = Vec::new();
    let addresses = crate::interfaces::addresses(&mut address_errors);
    Inventory {
        addresses,
        packages: table.into_packages(),
        listeners,
        age,
        scan_duration_us: started.elapsed().as_micros() as u64,
        reason: String::new(),
        errors: {
            let mut errors = budget.into_errors();
            errors.extend(address_errors);
            errors
        },
    }
}
