//! Query strings read into a struct, with a bad one answered as problem+json (422) naming the
//! parameter and its rule, never echoing the value (axum's own rejection is a plain-text 400).

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::problem::{FieldError, Problem};

/// A query struct's parameters and the rule each must follow, for the error of a bad one.
pub trait QueryRules {
    const RULES: &'static [(&'static str, &'static str)];
}

/// [`Query`], rejecting with a [`Problem`].
pub struct ValidQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ValidQuery<T>
where
    T: DeserializeOwned + QueryRules,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(Self(q)),
            Err(rejection) => Err(refusal::<T>(&rejection.body_text())),
        }
    }
}

/// The parameters at fault: the one serde names (its message starts with `<name>: `), or all.
fn refusal<T: QueryRules>(why: &str) -> Problem {
    let named = why
        .rsplit_once("query string: ")
        .map_or(why, |(_, rest)| rest)
        .split_once(':')
        .map(|(name, _)| name.trim());
    let known = named.filter(|n| T::RULES.iter().any(|(p, _)| p == n));
    let rules: Vec<FieldError> = T::RULES
        .iter()
        .filter(|(name, _)| known.is_none_or(|n| n == *name))
        .map(|(name, rule)| FieldError {
            location: (*name).to_owned(),
            rule: (*rule).to_owned(),
        })
        .collect();
    Problem::invalid_request("the query string is not valid", rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Q;
    impl QueryRules for Q {
        const RULES: &'static [(&'static str, &'static str)] = &[
            ("after", "a whole number"),
            ("limit", "a whole number from 1 to 100"),
        ];
    }

    #[test]
    fn the_parameter_serde_names_is_the_one_at_fault() {
        let p = refusal::<Q>(
            "Failed to deserialize query string: limit: invalid digit found in string",
        );
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].location, "limit");
        assert_eq!(p.status, 422);
    }

    #[test]
    fn without_a_known_name_every_rule_is_listed() {
        let p = refusal::<Q>("Failed to deserialize query string: expected a sequence");
        assert_eq!(p.errors.len(), 2);
        let p = refusal::<Q>("Failed to deserialize query string: nope: bad");
        assert_eq!(p.errors.len(), 2);
    }
}
