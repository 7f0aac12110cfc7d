//! How an error reaches a person or a log line: on one line, the context first, then each cause.
//!
//! The binary's errors are `anyhow` chains ("cannot listen on 0.0.0.0:8080" over the
//! `io::Error`). Some libraries' messages already repeat their cause (hyper's "tcp connect
//! error: Connection refused" over that same `io::Error`), where `{:#}` would print it twice, so a
//! cause whose text the line already holds is skipped.

/// `error` and its sources, joined by `": "`, without repeats.
pub fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    #[test]
    fn context_then_causes_each_once() {
        let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address in use");
        let error = Err::<(), _>(io)
            .context("cannot listen on 0.0.0.0:8080")
            .context("cannot start the gateway")
            .unwrap_err();
        assert_eq!(
            one_line(error.as_ref()),
            "cannot start the gateway: cannot listen on 0.0.0.0:8080: Address in use"
        );

        #[derive(Debug, thiserror::Error)]
        #[error("tcp connect error: {0}")]
        struct Repeats(#[source] std::io::Error);
        let repeated =
            Repeats(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused"));
        let error = anyhow::Error::new(repeated).context("cannot connect");
        assert_eq!(one_line(error.as_ref()), "cannot connect: tcp connect error: Connection refused");
    }
}
