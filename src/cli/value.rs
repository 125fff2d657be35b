//! Flag values parsed once, at the clap boundary, with their types'
//! `FromStr`: addresses, fixed-size hex, hex bytes. A bad one is a
//! [`BadValue`], which `usage::failure` reports as
//! `gossip: sign: bad --to address 'b.key': …`.

use std::fmt;
use std::str::FromStr;

use gossip::Address;

use super::failure::Failure;

/// Where an address comes from, for a bad one.
const ADDRESS_HINT: &str = "print a key file's address with `gossip address -k FILE`";

/// Exactly `N` bytes, given as `2 * N` hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HexBytes<const N: usize>(pub [u8; N]);

impl<const N: usize> FromStr for HexBytes<N> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut out = [0u8; N];
        hex::decode_to_slice(text.trim(), &mut out)
            .map_err(|_| format!("expected {} hex digits", 2 * N))?;
        Ok(Self(out))
    }
}

/// Any number of bytes, given as hex digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HexVec(pub Vec<u8>);

impl FromStr for HexVec {
    type Err = hex::FromHexError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        hex::decode(text.trim()).map(Self)
    }
}

/// A flag value its type refused: `bad <label> '<text>'`, why, and a hint.
#[derive(Debug)]
pub struct BadValue {
    pub what: String,
    pub why: String,
    pub hint: Option<&'static str>,
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.why)
    }
}

impl std::error::Error for BadValue {}

/// A usage error (exit 2), which `main` names by its subcommand.
impl From<BadValue> for Failure {
    fn from(bad: BadValue) -> Self {
        let failure = Failure::usage(bad.what, bad.why);
        match bad.hint {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    }
}

/// A clap value parser for `T`, by its `FromStr`; a bad value is named
/// `bad <label> '<text>'`.
pub fn parsed<T>(
    label: &'static str,
) -> impl Fn(&str) -> Result<T, BadValue> + Clone + Send + Sync + 'static
where
    T: FromStr,
    T::Err: fmt::Display,
{
    move |text| {
        text.parse().map_err(|e: T::Err| BadValue {
            what: format!("bad {label} '{text}'"),
            why: e.to_string(),
            hint: None,
        })
    }
}

/// [`parsed`] for an address, with a hint on where to find one.
pub fn address(
    label: &'static str,
) -> impl Fn(&str) -> Result<Address, BadValue> + Clone + Send + Sync + 'static {
    move |text| {
        parsed(label)(text).map_err(|bad| BadValue {
            hint: Some(ADDRESS_HINT),
            ..bad
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_hex_takes_exactly_its_length() {
        assert_eq!("0a0b".parse(), Ok(HexBytes([10, 11])));
        assert_eq!(" 0a0b\n".parse(), Ok(HexBytes([10, 11])));
        assert_eq!(
            "0a".parse::<HexBytes<2>>(),
            Err("expected 4 hex digits".into())
        );
    }

    #[test]
    fn a_bad_value_names_its_flag_and_text() {
        let bad = address("--to address")("zz").unwrap_err();
        assert_eq!(bad.what, "bad --to address 'zz'");
        assert_eq!(bad.hint, Some(ADDRESS_HINT));
        let bad = parsed::<HexVec>("--hex")("abc").unwrap_err();
        assert_eq!(bad.what, "bad --hex 'abc'");
        assert_eq!(bad.why, "Odd number of digits");
    }
}
