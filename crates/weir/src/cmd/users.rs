//! `weir users`: the people directory and their second factor. `list` shows
//! each person with their logins and whether they enrolled a TOTP
//! authenticator; `enroll-totp PERSON` gives them a new secret (replacing any
//! previous one) and prints the otpauth URI and a QR code to scan.

use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
    /// Data directory [default: $WEIR_DATA or ./weir-data].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// People directory [default: DATA/people.yaml].
    #[arg(long, global = true)]
    people: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// List the people directory and who has a second factor.
    List,
    /// Enroll (or re-enroll) a person's TOTP authenticator.
    EnrollTotp {
        /// Person id from the people directory.
        person: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let data = super::data_dir(args.data);
    let people_file = args.people.unwrap_or_else(|| weir_triage::layout::people_path(&data));
    let directory = weir_triage::Directory::load(&people_file)?;
    match args.cmd {
        Cmd::List => {
            super::create_private_dir(&data)?;
            let triage = open(&data)?;
            println!("{:<16} {:<24} {:<28} {:<8} TOTP", "PERSON", "NAME", "LOGINS", "ONCALL");
            for person in directory.people() {
                let enrolled = triage
                    .totp_enrolled(&person.id)?
                    .map_or("not enrolled".to_string(), |at| format!("enrolled at unix {at}"));
                let mut logins: Vec<String> = person.logins.clone();
                logins.extend(person.uids.iter().map(|u| format!("uid {u}")));
                println!(
                    "{:<16} {:<24} {:<28} {:<8} {enrolled}",
                    person.id,
                    person.name,
                    logins.join(", "),
                    if person.oncall { "yes" } else { "" }
                );
            }
            Ok(0)
        }
        Cmd::EnrollTotp { person } => {
            let Some(found) = directory.get(&person) else {
                eprintln!("{}: no person with id `{person}`", people_file.display());
                return Ok(2);
            };
            super::create_private_dir(&data)?;
            let mut triage = open(&data)?;
            let label = found.email.clone().unwrap_or_else(|| found.id.clone());
            let enrollment = triage.enroll_totp(&found.id, &label, super::now_s())?;
            if enrollment.replaced {
                println!(
                    "{}: previous authenticator secret replaced (recorded in the audit trail)",
                    found.id
                );
            }
            println!("Scan with an authenticator app (or enter the secret by hand):\n");
            if let Some(qr) = &enrollment.terminal_qr {
                println!("{qr}");
            }
            println!("{}", enrollment.otpauth_uri);
            println!("secret: {}", enrollment.secret_base32);
            Ok(0)
        }
    }
}

fn open(data: &std::path::Path) -> anyhow::Result<weir_triage::Triage> {
    weir_triage::layout::open_in(data, "").with_context(|| format!("opening the triage store in {}", data.display()))
}
