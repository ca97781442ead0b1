//! Draws an [`App`] with ratatui: the shown room's messages on the left (the rooms it is in,
//! with their unread counts, along the pane's lower edge), who is online there on the right,
//! the input line and a status line below. Pure drawing: tested on ratatui's `TestBackend`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, Paragraph};

use super::state::{App, Kind, Message, Status};

const PALETTE: [Color; 8] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::LightRed,
    Color::LightGreen,
    Color::LightCyan,
];

/// The same colour for a name every time, in every client.
pub fn name_color(name: &str) -> Color {
    let hash = name
        .to_ascii_lowercase()
        .bytes()
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
    PALETTE[(hash % PALETTE.len() as u64) as usize]
}

pub fn render(frame: &mut Frame, app: &mut App) {
    let [main, input, status] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let online_width =
        (app.online_names().map(str::len).max().unwrap_or(6) as u16 + 4).clamp(14, 36);
    let [messages, online] =
        Layout::horizontal([Constraint::Min(20), Constraint::Length(online_width)]).areas(main);
    render_messages(frame, app, messages);
    render_online(frame, app, online);
    render_input(frame, app, input);
    render_status(frame, app, status);
}

/// A message's parts and their styles; the room's past (its history) dimmed.
fn styled_parts(m: &Message) -> Vec<(String, Style)> {
    let parts = kind_parts(m);
    if !m.past {
        return parts;
    }
    parts
        .into_iter()
        .map(|(text, style)| (text, style.add_modifier(Modifier::DIM)))
        .collect()
}

fn kind_parts(m: &Message) -> Vec<(String, Style)> {
    let notice = Style::default()
        .fg(Color::DarkGray)
        .add_modifier(Modifier::ITALIC);
    match &m.kind {
        Kind::Chat { from, own } => {
            let name = Style::default()
                .fg(name_color(from))
                .add_modifier(Modifier::BOLD);
            let text = if *own {
                Style::default().fg(Color::Gray)
            } else {
                Style::default()
            };
            vec![
                ("<".into(), Style::default()),
                (from.clone(), name),
                ("> ".into(), Style::default()),
                (m.text.clone(), text),
            ]
        }
        Kind::Private { from, to } => {
            let style = Style::default().fg(Color::Magenta);
            let head = if to.is_empty() {
                format!("*{from}* ")
            } else {
                format!("-> *{to}* ")
            };
            vec![
                (head, style.add_modifier(Modifier::BOLD)),
                (m.text.clone(), style),
            ]
        }
        Kind::Notice => vec![(format!("* {}", m.text), notice)],
        Kind::Error => vec![(format!("! {}", m.text), Style::default().fg(Color::Red))],
        Kind::Alert => vec![(
            format!("* {}", m.text),
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )],
    }
}

/// Splits a message into rows of at most `width` characters, keeping each part's style.
fn wrap(m: &Message, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut row: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for (text, style) in styled_parts(m) {
        let mut chunk = String::new();
        for c in text.chars() {
            if used == width {
                if !chunk.is_empty() {
                    row.push(Span::styled(std::mem::take(&mut chunk), style));
                }
                rows.push(Line::from(std::mem::take(&mut row)));
                used = 0;
            }
            chunk.push(c);
            used += 1;
        }
        if !chunk.is_empty() {
            row.push(Span::styled(chunk, style));
        }
    }
    rows.push(Line::from(row));
    rows
}

/// `#lobby` for a room, `(no room)` for the pane of a client in none.
fn room_title(room: &str) -> String {
    match room {
        "" => "(no room)".to_string(),
        room => format!("#{room}"),
    }
}

/// ` 1 #lobby │ 2 #dev (3) ` along the pane's lower edge: each room with the Alt key that
/// shows it, the shown one highlighted, the ones with unread lines bold.
fn rooms_bar(app: &App) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (i, pane) in app.panes.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" │ "));
        }
        let mut text = match i {
            0..9 => format!("{} {}", i + 1, room_title(&pane.room)),
            _ => room_title(&pane.room),
        };
        let mut style = Style::default();
        if pane.unread > 0 {
            text.push_str(&format!(" ({})", pane.unread));
            style = style.fg(Color::Yellow).add_modifier(Modifier::BOLD);
        }
        if i == app.current {
            style = Style::default().fg(Color::Black).bg(Color::Cyan);
        }
        spans.push(Span::styled(text, style));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

fn render_messages(frame: &mut Frame, app: &mut App, area: Rect) {
    let room = room_title(&app.pane().room);
    let title = match &app.pane().topic {
        Some(topic) => format!(" {room} · {topic} · chatd {} ", app.server),
        None => format!(" {room} · chatd {} ", app.server),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .title_bottom(rooms_bar(app));
    let inner = block.inner(area);
    let (height, width) = (inner.height as usize, inner.width as usize);
    app.page = height.max(1);
    let pane = app.pane_mut();
    // Wrap from the newest message back, only as far as the view reaches.
    let mut rows: Vec<Line<'static>> = Vec::new();
    for m in pane.messages.iter().rev() {
        let mut wrapped = wrap(m, width);
        wrapped.reverse();
        rows.extend(wrapped);
        if rows.len() >= height + pane.scroll {
            break;
        }
    }
    let max_scroll = rows.len().saturating_sub(height);
    pane.scroll = pane.scroll.min(max_scroll);
    let visible: Vec<Line> = rows
        .into_iter()
        .skip(pane.scroll)
        .take(height)
        .rev()
        .collect();
    frame.render_widget(Paragraph::new(visible).block(block), area);
}

fn render_online(frame: &mut Frame, app: &App, area: Rect) {
    let items: Vec<ListItem> = app
        .online_names()
        .map(|n| {
            let mut style = Style::default().fg(name_color(n));
            if n == app.me {
                style = style.add_modifier(Modifier::BOLD);
            }
            ListItem::new(Span::styled(n.to_string(), style))
        })
        .collect();
    let title = format!(
        " {} ({}) ",
        room_title(&app.pane().room),
        app.pane().online.len()
    );
    frame.render_widget(
        List::new(items).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

fn render_input(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} ", app.me));
    let inner = block.inner(area);
    let prompt = "> ";
    let room = (inner.width as usize)
        .saturating_sub(prompt.len() + 1)
        .max(1);
    // Keep the cursor in view on long lines.
    let start = app.cursor.saturating_sub(room);
    // A password being typed after /oper or /pass shows as stars.
    let typed: String = app.input.iter().collect();
    let hidden_from = super::state::secret_from(&typed).unwrap_or(usize::MAX);
    let shown: String = app
        .input
        .iter()
        .enumerate()
        .skip(start)
        .take(room + 1)
        .map(|(i, &c)| if i >= hidden_from { '*' } else { c })
        .collect();
    frame.render_widget(
        Paragraph::new(format!("{prompt}{shown}")).block(block),
        area,
    );
    if matches!(app.status, Status::Connected) {
        let x = inner.x + (prompt.len() + app.cursor - start) as u16;
        frame.set_cursor_position(Position::new(
            x.min(inner.right().saturating_sub(1)),
            inner.y,
        ));
    }
}

/// ` · sending paced: 12 lines waiting (about 1 s)`, while lines wait.
fn waiting(app: &App) -> String {
    let n = app.waiting.len();
    match (n, app.paced_at) {
        (0, _) => String::new(),
        (_, Some(rate)) => format!(
            " · sending paced at {rate}/s: {}",
            crate::client::pace::waiting_text(n, rate)
        ),
        (_, None) => format!(" · {n} line{} waiting", if n == 1 { "" } else { "s" }),
    }
}

fn render_status(frame: &mut Frame, app: &App, area: Rect) {
    let line = match &app.status {
        Status::Connected => Line::from(vec![
            Span::styled(
                " connected ",
                Style::default().fg(Color::Black).bg(Color::Green),
            ),
            Span::raw(format!(
                " {} as {}{} · Alt-1..9 rooms · PgUp/PgDn scroll · Esc quits",
                app.server,
                app.me,
                waiting(app)
            )),
        ]),
        Status::Disconnected(why) => Line::from(vec![
            Span::styled(
                " disconnected ",
                Style::default().fg(Color::White).bg(Color::Red),
            ),
            Span::raw(format!(" {why}{} · Esc quits", waiting(app))),
        ]),
    };
    frame.render_widget(Paragraph::new(line), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tui::state::Key;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn screen(app: &mut App, w: u16, h: u16) -> Vec<String> {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| render(f, app)).unwrap();
        let buf = t.backend().buffer().clone();
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect()
    }

    fn app() -> App {
        let mut a = App::new("127.0.0.1:12345".into(), "guest1".into());
        a.server_line("* welcome guest1, 3 online; type /help for commands");
        a.server_line("* online in #lobby (3): alice, bob, guest1");
        a
    }

    #[test]
    fn shows_messages_online_list_input_and_status() {
        let mut a = app();
        a.server_line("<alice> hello there");
        a.server_line("* carol joined");
        for c in "typing".chars() {
            a.key(Key::Char(c));
        }
        let s = screen(&mut a, 70, 12);
        let all = s.join("\n");
        assert!(
            s[0].contains("#lobby · chatd 127.0.0.1:12345") && s[0].contains("#lobby (4)"),
            "{all}"
        );
        assert!(all.contains("<alice> hello there"), "{all}");
        assert!(all.contains("* carol joined"), "{all}");
        for name in ["alice", "bob", "carol", "guest1"] {
            assert!(
                s.iter()
                    .any(|row| row.trim_end().ends_with(&format!("{name} │"))
                        || row.contains(&format!("│{name}"))),
                "{name} missing:\n{all}"
            );
        }
        assert!(s[9].contains("> typing"), "{all}");
        assert!(
            s[11].contains("connected") && s[11].contains("as guest1"),
            "{all}"
        );
    }

    #[test]
    fn names_get_stable_colours() {
        let mut a = app();
        a.server_line("<alice> hi");
        let mut t = Terminal::new(TestBackend::new(60, 10)).unwrap();
        t.draw(|f| render(f, &mut a)).unwrap();
        let buf = t.backend().buffer();
        // Find "alice" in the message row and check its colour.
        let y = (0..10)
            .find(|&y| {
                (0..60)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
                    .contains("<alice>")
            })
            .unwrap();
        let x = (0..60).find(|&x| buf[(x, y)].symbol() == "a").unwrap();
        assert_eq!(buf[(x, y)].fg, name_color("alice"));
        assert_eq!(name_color("alice"), name_color("ALICE"));
    }

    #[test]
    fn long_messages_wrap_and_page_up_scrolls_back() {
        let mut a = app();
        for i in 0..30 {
            a.server_line(&format!("<bob> message {i}"));
        }
        a.server_line(&format!("<bob> {}", "w".repeat(100)));
        let s = screen(&mut a, 60, 12);
        let all = s.join("\n");
        assert!(
            all.contains("message 27") && !all.contains("message 26"),
            "{all}"
        );
        assert_eq!(
            s.iter().filter(|r| r.contains("wwwww")).count(),
            3,
            "wrapped in 3:\n{all}"
        );
        // The pane is 6 rows: the long message takes 3, messages 29 to 27 the rest. One page
        // up shows the 6 rows above: messages 26 down to 21.
        a.key(Key::PageUp);
        let all = screen(&mut a, 60, 12).join("\n");
        assert!(
            all.contains("message 26") && all.contains("message 21"),
            "{all}"
        );
        assert!(
            !all.contains("message 27") && !all.contains("wwwww"),
            "{all}"
        );
    }

    #[test]
    fn the_room_and_its_topic_are_in_the_title_and_history_is_dimmed() {
        let mut a = app();
        a.server_line("* you are in #dev (2 here)");
        a.server_line("* topic of #dev: ship it");
        a.server_line("* history of #dev: 1 line");
        a.server_line("<bob> before you came");
        a.server_line("* end of history");
        a.server_line("* online in #dev (2): bob, guest1");
        let mut t = Terminal::new(TestBackend::new(70, 12)).unwrap();
        t.draw(|f| render(f, &mut a)).unwrap();
        let buf = t.backend().buffer();
        let row = |y: u16| (0..70).map(|x| buf[(x, y)].symbol()).collect::<String>();
        assert!(row(0).contains("#dev · ship it · chatd"), "{}", row(0));
        assert!(row(0).contains("#dev (2)"), "{}", row(0));
        let y = (0..12)
            .find(|&y| row(y).contains("before you came"))
            .unwrap();
        let x = (0..70).find(|&x| buf[(x, y)].symbol() == "f").unwrap();
        assert!(buf[(x, y)].modifier.contains(Modifier::DIM));
    }

    #[test]
    fn disconnected_status() {
        let mut a = app();
        a.disconnected("server closed the connection");
        let s = screen(&mut a, 70, 10);
        assert!(s[9].contains("disconnected") && s[9].contains("server closed the connection"));
        assert!(s[0].contains("#lobby (0)"));
    }

    #[test]
    fn lines_waiting_show_in_the_status() {
        let mut a = app();
        a.paced_at = Some(50.0);
        a.waiting.extend((0..120).map(|i| format!("line {i}")));
        let s = screen(&mut a, 120, 10);
        assert!(
            s[9].contains("sending paced at 50/s: 120 lines waiting (about 3 s)"),
            "{}",
            s[9]
        );
        a.waiting.clear();
        let s = screen(&mut a, 120, 10);
        assert!(!s[9].contains("waiting"), "{}", s[9]);
    }

    #[test]
    fn the_rooms_line_the_panes_lower_edge_with_their_unread_counts() {
        let mut a = app();
        a.server_line(r#"{"type":"room","room":"dev","here":1,"rooms":["lobby","dev"]}"#);
        a.server_line(r#"{"type":"chat","room":"lobby","from":"bob","text":"psst","id":"1"}"#);
        a.server_line(r#"{"type":"chat","room":"dev","from":"ana","text":"in dev","id":"2"}"#);
        let s = screen(&mut a, 70, 12);
        let all = s.join("\n");
        assert!(s[7].contains("1 #lobby (1) │ 2 #dev"), "{all}");
        assert!(
            s[0].contains("#dev · chatd") && all.contains("in dev"),
            "{all}"
        );
        assert!(!all.contains("psst"), "{all}");
        a.key(Key::Room(0));
        let s = screen(&mut a, 70, 12);
        let all = s.join("\n");
        assert!(s[7].contains("1 #lobby │ 2 #dev"), "{all}");
        assert!(all.contains("psst") && !all.contains("in dev"), "{all}");
    }
}
