//! Chat commands: a message whose body starts with `/` and a letter. Parsed here, into one
//! enum, so that the server runs them and the web app offers help and completion from the
//! same list.

use crate::names::Username;
use std::fmt;

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/help`: the list of commands, privately.
    Help,
    /// `/now`: the server's date and time, as a bot message everyone sees.
    Now,
    /// `/sms USERNAME`: queue a text message to that user's phone.
    Sms { username: Username },
    /// `/who`: who is online in this room, privately.
    Who,
    /// `/me ACTION`: an emote, "alice waves".
    Me { action: String },
}

/// One command as the help and completion show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: &'static str,
    pub args: &'static str,
    pub summary: &'static str,
}

impl CommandSpec {
    /// `/sms USERNAME`
    pub fn usage(&self) -> String {
        if self.args.is_empty() {
            format!("/{}", self.name)
        } else {
            format!("/{} {}", self.name, self.args)
        }
    }
}

/// Every command, in the order help lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "help",
        args: "",
        summary: "list the commands",
    },
    CommandSpec {
        name: "now",
        args: "",
        summary: "post the server's date and time (UTC)",
    },
    CommandSpec {
        name: "sms",
        args: "USERNAME",
        summary: "text that user that someone here is trying to reach them (the words are fixed)",
    },
    CommandSpec {
        name: "who",
        args: "",
        summary: "who is online in this room",
    },
    CommandSpec {
        name: "me",
        args: "ACTION",
        summary: "say what you are doing",
    },
];

/// Why a command was refused, with the usage to show the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub message: String,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The help text: one line per command.
pub fn help() -> String {
    let mut out = String::from("Commands:");
    for spec in COMMANDS {
        out.push_str(&format!("\n{} — {}", spec.usage(), spec.summary));
    }
    out
}

/// The commands whose name starts with what follows the `/` in `input` (for completion).
pub fn complete(input: &str) -> Vec<&'static CommandSpec> {
    let Some(prefix) = input.strip_prefix('/') else {
        return Vec::new();
    };
    if prefix.contains(char::is_whitespace) {
        return Vec::new();
    }
    let prefix = prefix.to_lowercase();
    COMMANDS
        .iter()
        .filter(|c| c.name.starts_with(&prefix))
        .collect()
}

fn spec(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

fn usage_error(spec: &CommandSpec, why: &str) -> CommandError {
    CommandError {
        message: format!("{why}. Usage: {} — {}", spec.usage(), spec.summary),
    }
}

/// `None` when `body` is no command (it does not start with `/` and a letter): post it as it is.
/// Otherwise the command, or why it is refused, with its usage.
pub fn parse(body: &str) -> Option<Result<Command, CommandError>> {
    let rest = body.strip_prefix('/')?;
    if !rest.starts_with(char::is_alphabetic) {
        return None;
    }
    let (name, args) = match rest.split_once(char::is_whitespace) {
        Some((name, args)) => (name, args.trim()),
        None => (rest, ""),
    };
    let name = name.to_lowercase();
    let Some(spec) = spec(&name) else {
        return Some(Err(CommandError {
            message: format!("unknown command /{name}. {}", help()),
        }));
    };
    let no_args = |command: Command| {
        if args.is_empty() {
            Ok(command)
        } else {
            Err(usage_error(spec, &format!("/{name} takes no arguments")))
        }
    };
    Some(match name.as_str() {
        "help" => no_args(Command::Help),
        "now" => no_args(Command::Now),
        "who" => no_args(Command::Who),
        "sms" => {
            let mut words = args.split_whitespace();
            match (words.next(), words.next()) {
                (Some(user), None) => Username::parse(user.trim_start_matches('@'))
                    .map(|username| Command::Sms { username })
                    .map_err(|e| usage_error(spec, &e.message)),
                (None, _) => Err(usage_error(spec, "whom should the SMS go to")),
                (Some(_), Some(_)) => Err(usage_error(spec, "one username only")),
            }
        }
        "me" if args.is_empty() => Err(usage_error(spec, "say what you are doing")),
        "me" => Ok(Command::Me {
            action: args.to_owned(),
        }),
        _ => Err(usage_error(spec, "not available")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Command {
        match parse(body) {
            Some(Ok(c)) => c,
            other => panic!("{body:?} gave {other:?}"),
        }
    }

    fn refused(body: &str) -> String {
        match parse(body) {
            Some(Err(e)) => e.message,
            other => panic!("{body:?} gave {other:?}"),
        }
    }

    #[test]
    fn plain_messages_are_no_commands() {
        for body in [
            "hello",
            " /now",
            "/",
            "// not a command",
            "/ spaced",
            "/1 two",
            "a/now",
        ] {
            assert_eq!(parse(body), None, "{body:?}");
        }
    }

    #[test]
    fn commands_parse_without_regard_to_case_and_spacing() {
        assert_eq!(ok("/help"), Command::Help);
        assert_eq!(ok("/NOW"), Command::Now);
        assert_eq!(ok("/now   "), Command::Now);
        assert_eq!(ok("/who"), Command::Who);
        assert_eq!(
            ok("/sms  bob.smith "),
            Command::Sms {
                username: Username::parse("bob.smith").unwrap()
            }
        );
        assert_eq!(
            ok("/sms @bob"),
            Command::Sms {
                username: Username::parse("bob").unwrap()
            }
        );
        assert_eq!(
            ok("/me waves  at you"),
            Command::Me {
                action: "waves  at you".into()
            }
        );
    }

    #[test]
    fn bad_arguments_get_the_usage() {
        assert!(refused("/sms").contains("Usage: /sms USERNAME"));
        assert!(refused("/sms a b").contains("one username only"));
        assert!(refused("/sms <x>").contains("Usage: /sms USERNAME"));
        assert!(refused("/now please").contains("takes no arguments"));
        assert!(refused("/me").contains("Usage: /me ACTION"));
    }

    #[test]
    fn unknown_commands_get_the_list() {
        let message = refused("/dance now");
        assert!(message.starts_with("unknown command /dance"));
        for spec in COMMANDS {
            assert!(message.contains(&spec.usage()), "{message}");
        }
    }

    #[test]
    fn completion_offers_matching_commands() {
        let names = |input| complete(input).iter().map(|c| c.name).collect::<Vec<_>>();
        assert_eq!(names("/"), ["help", "now", "sms", "who", "me"]);
        assert_eq!(names("/s"), ["sms"]);
        assert_eq!(names("/H"), ["help"]);
        assert!(names("/sms bob").is_empty());
        assert!(names("hello").is_empty());
    }
}
