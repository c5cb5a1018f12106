//! The rule every new password meets (NIST SP 800-63B §5.1.1.2): at least `min_chars` characters (never fewer
//! than 8; 12 by default), at most 1024 bytes (argon2 hashes whatever it is given, so this bounds the work), and not
//! one of the common passwords attackers try first. No composition rules, as the guideline says. Passwords set
//! before the rule keep working: it applies where a password is set, never where one is checked.
//!
//! `common_passwords.txt` holds every password of at least 8 characters among the 20,000 most common of the
//! `zxcvbn` package 4.4.2 (npm, MIT licence, Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc.; its list is
//! ranked from Mark Burnett's public-domain set of 10 million leaked passwords), in rank order, lower-case,
//! one a line. It was generated at development time with
//! `node -e 'require("zxcvbn/lib/frequency_lists.js").passwords.slice(0, 20000).filter(p => p.length >= 8)'`;
//! shorter ones are refused by length anyway.

use crate::directory::Invalid;

/// The fewest characters any password may have, whatever the settings.
pub const MIN_CHARS_FLOOR: usize = 8;
/// The longest password, in bytes.
pub const MAX_BYTES: usize = 1024;

const COMMON: &str = include_str!("common_passwords.txt");

/// Checks a new password for `field` against the rule, with `min_chars` from the settings.
pub fn check_new(field: &'static str, password: &str, min_chars: usize) -> Result<(), Invalid> {
    let min_chars = min_chars.max(MIN_CHARS_FLOOR);
    if password.chars().count() < min_chars {
        return Err(Invalid::new(field, format!("must be at least {min_chars} characters")));
    }
    if password.len() > MAX_BYTES {
        return Err(Invalid::new(field, format!("must be at most {MAX_BYTES} bytes")));
    }
    if is_common(password) {
        return Err(Invalid::new(field, "is one of the most common passwords: choose another"));
    }
    Ok(())
}

/// Whether the password, ignoring case and surrounding spaces, is on the shipped list.
pub fn is_common(password: &str) -> bool {
    let candidate = password.trim().to_lowercase();
    COMMON.lines().any(|line| line == candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_long_and_common_passwords_are_refused() {
        let check = |p: &str, min: usize| check_new("password", p, min).map_err(|e| e.to_string());
        assert_eq!(check("eleven char", 12), Err("password must be at least 12 characters".into()));
        assert_eq!(check("twelve chars", 12), Ok(()));
        assert_eq!(check("seven c", 1), Err("password must be at least 8 characters".into()), "never below 8");
        assert_eq!(check("eight ch", 8), Ok(()));
        // Characters, not bytes: eight non-ASCII characters are enough.
        assert_eq!(check("éééééééé", 8), Ok(()));
        assert_eq!(check(&"a".repeat(1025), 12), Err("password must be at most 1024 bytes".into()));
        for common in ["password", "PASSWORD", "12345678", "iloveyou", "trustno1", " baseball1 "] {
            assert!(check(common, 8).unwrap_err().contains("most common passwords"), "{common}");
        }
    }

    #[test]
    fn the_list_is_what_the_module_says() {
        assert!(COMMON.lines().all(|l| l.chars().count() >= MIN_CHARS_FLOOR && l == l.to_lowercase()));
        assert!(COMMON.len() < 100 * 1024);
        assert_eq!(COMMON.lines().next(), Some("password"));
    }
}
