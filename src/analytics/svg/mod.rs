//! Charts as inline SVG, rendered by the server: pure functions from numbers to markup, no
//! I/O, no script. Each chart is accessible (`role="img"`, a `<title>` and a `<desc>` that
//! says what the chart shows in words and numbers), escapes every text it writes, and draws
//! a clear "nothing in this period" picture when it has no data.
//!
//! - [`sankey::sankey_svg`]: referrals flowing from sending to receiving sectors.
//! - [`times::time_distribution_svg`]: time to acceptance and to completion per sector, as box
//!   plots on a logarithmic time axis.

pub mod sankey;
pub mod times;

/// What every chart is told besides its data.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChartOptions {
    /// A prefix for the element ids inside the SVG (title, description), unique on the page:
    /// letters, digits and `-` are kept, anything else becomes `-`.
    pub id: String,
    /// The chart's title (shown, and the accessible name).
    pub title: String,
    /// A line under the chart (e.g. what was left out), if any.
    pub note: Option<String>,
    /// The width in pixels (the chart scales with `viewBox`); at least 480.
    pub width: u32,
}

impl ChartOptions {
    /// Options with the default width (760).
    pub fn new(id: &str, title: &str) -> Self {
        Self {
            id: id.to_owned(),
            title: title.to_owned(),
            note: None,
            width: 760,
        }
    }

    /// With a note under the chart.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    fn id_prefix(&self) -> String {
        let id: String = self
            .id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        if id.is_empty() {
            "chart".to_owned()
        } else {
            id
        }
    }

    fn width(&self) -> f64 {
        f64::from(self.width.max(480))
    }
}

/// `s` with the five XML special characters escaped, so it is safe as text and in attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0; none belongs in a label.
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate: two decimals at most, no trailing zeros.
pub(crate) fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// The colour of a sector (the four sector codes and `unknown` have fixed colours from the
/// Okabe–Ito palette, safe for colour-blind readers); any other label takes the next colour
/// of the same palette by its position.
pub fn colour_for(label: &str, position: usize) -> &'static str {
    const OTHERS: [&str; 6] = [
        "#56B4E9", "#D55E00", "#8172B3", "#937860", "#B8A100", "#2F4B7C",
    ];
    match label {
        "housing" => "#009E73",
        "welfare" => "#CC79A7",
        "care" => "#0072B2",
        "employment" => "#E69F00",
        "unknown" => "#999999",
        _ => OTHERS[position % OTHERS.len()],
    }
}

/// The opening of a chart: the `<svg>` element with its accessible name and description, a
/// style block, and the visible title.
pub(crate) fn open(options: &ChartOptions, height: f64, desc: &str) -> String {
    let id = options.id_prefix();
    let w = options.width();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"wb-chart\" role=\"img\" \
         width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         aria-labelledby=\"{id}-title {id}-desc\">\
         <title id=\"{id}-title\">{title}</title>\
         <desc id=\"{id}-desc\">{desc}</desc>\
         <style>.wb-chart text{{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;\
         font-size:12px;fill:#222}}.wb-chart .wb-title{{font-size:15px;font-weight:600}}\
         .wb-chart .wb-muted{{fill:#555}}.wb-chart .wb-big{{font-size:16px}}</style>\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\
         <text class=\"wb-title\" x=\"16\" y=\"24\">{title}</text>",
        w = num(w),
        h = num(height),
        title = escape(&options.title),
        desc = escape(desc),
    )
}

/// The close of a chart, with its note (if any) on the last line.
pub(crate) fn close(options: &ChartOptions, height: f64) -> String {
    let mut out = String::new();
    if let Some(note) = &options.note {
        out.push_str(&format!(
            "<text class=\"wb-muted\" x=\"16\" y=\"{}\">{}</text>",
            num(height - 12.0),
            escape(note)
        ));
    }
    out.push_str("</svg>");
    out
}

/// The picture of a chart without data: its title and `message`, in a framed box.
pub(crate) fn empty(options: &ChartOptions, message: &str) -> String {
    let h = 160.0;
    let w = options.width();
    let mut out = open(options, h, message);
    out.push_str(&format!(
        "<g class=\"wb-empty\"><rect x=\"16\" y=\"40\" width=\"{}\" height=\"{}\" rx=\"6\" \
         fill=\"#f4f4f4\" stroke=\"#bbb\" stroke-dasharray=\"6 4\"/>\
         <text class=\"wb-big wb-muted\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
        num(w - 32.0),
        num(h - 72.0),
        num(w / 2.0),
        num(40.0 + (h - 72.0) / 2.0 + 5.0),
        escape(message)
    ));
    out.push_str(&close(options, h));
    out
}

#[cfg(test)]
pub(crate) mod check {
    //! What the SVG tests share: parsing a chart as XML.

    use quick_xml::events::Event;
    use quick_xml::Reader;

    /// One element of a parsed chart: its name, attributes and direct text.
    #[derive(Debug, Clone)]
    pub struct Element {
        pub name: String,
        pub attrs: Vec<(String, String)>,
        pub text: String,
    }

    impl Element {
        pub fn attr(&self, name: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// Parses `svg` as well-formed XML (panics otherwise) into its elements in document order.
    pub fn parse(svg: &str) -> Vec<Element> {
        let mut reader = Reader::from_str(svg);
        reader.config_mut().check_end_names = true;
        let mut out: Vec<Element> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        loop {
            match reader.read_event() {
                Ok(Event::Start(e)) => {
                    out.push(element(&e));
                    open.push(out.len() - 1);
                }
                Ok(Event::Empty(e)) => out.push(element(&e)),
                Ok(Event::End(_)) => {
                    open.pop().expect("an end tag without a start");
                }
                Ok(Event::Text(t)) => {
                    let text = t.unescape().expect("text unescapes").into_owned();
                    if let Some(&i) = open.last() {
                        out[i].text.push_str(&text);
                    }
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed XML: {e}\n{svg}"),
            }
        }
        assert!(open.is_empty(), "unclosed elements");
        assert_eq!(out.first().map(|e| e.name.as_str()), Some("svg"));
        out
    }

    fn element(e: &quick_xml::events::BytesStart<'_>) -> Element {
        Element {
            name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
            attrs: e
                .attributes()
                .map(|a| {
                    let a = a.expect("a well-formed attribute");
                    (
                        String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                        a.unescape_value().expect("value unescapes").into_owned(),
                    )
                })
                .collect(),
            text: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("a\u{1}b"), "a b");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.256), "1.26");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
    }

    #[test]
    fn an_empty_chart_is_well_formed_and_says_so() {
        let options = ChartOptions::new("x\"><script>", "Flows <&>").with_note("n<5");
        let svg = empty(&options, "No referrals in this period");
        let elements = check::parse(&svg);
        let title = elements.iter().find(|e| e.name == "title").unwrap();
        assert_eq!(title.text, "Flows <&>");
        assert_eq!(title.attr("id"), Some("x---script--title"));
        assert!(elements
            .iter()
            .any(|e| e.name == "text" && e.text == "No referrals in this period"));
        assert!(!svg.contains("<script"));
    }
}
