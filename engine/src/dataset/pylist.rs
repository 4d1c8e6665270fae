//! Parser for the Python list reprs SpotGenTrack stores in CSV fields (`['a', 'b']`).

/// Parses a Python list of strings as written by `repr(list)`: `['a', 'b']`, `["it's"]`,
/// `[]`. Single or double quotes, backslash escapes `\\ \' \" \n \t`, whitespace around
/// items. Returns the items, or a message saying what is wrong and where (byte offset).
pub fn parse_python_list(text: &str) -> Result<Vec<String>, String> {
    let s = text.trim();
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| format!("not a Python list (expected [..]): {text:?}"))?;
    let mut items = Vec::new();
    let mut chars = inner.char_indices().peekable();
    loop {
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let Some((pos, quote)) = chars.next() else {
            break;
        };
        if quote != '\'' && quote != '"' {
            return Err(format!(
                "expected a quoted string at offset {} in {text:?}",
                pos + 1
            ));
        }
        let mut item = String::new();
        let mut closed = false;
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => item.push('\n'),
                    Some((_, 't')) => item.push('\t'),
                    Some((_, e)) => item.push(e),
                    None => break,
                },
                c if c == quote => {
                    closed = true;
                    break;
                }
                c => item.push(c),
            }
        }
        if !closed {
            return Err(format!("unterminated string in {text:?}"));
        }
        items.push(item);
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some((_, ',')) => continue,
            Some((p, c)) => {
                return Err(format!(
                    "expected ',' or ']' at offset {} in {text:?}, found {c:?}",
                    p + 1
                ))
            }
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::parse_python_list;

    #[test]
    fn parses_reprs() {
        assert_eq!(parse_python_list("[]").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_python_list("['a', 'b']").unwrap(),
            vec!["a".to_string(), "b".to_string()]
        );
        assert_eq!(
            parse_python_list(r#"["it's", 'x\'y', 'c,d']"#).unwrap(),
            vec!["it's".to_string(), "x'y".to_string(), "c,d".to_string()]
        );
        assert_eq!(
            parse_python_list(" ['a',] ").unwrap(),
            vec!["a".to_string()]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_python_list("a, b").is_err());
        assert!(parse_python_list("['a' 'b']").is_err());
        assert!(parse_python_list("['a").is_err());
        assert!(parse_python_list("[a]").is_err());
    }
}
