//! The engine's view of an event: the values each field path of the rules
//! reaches, found once per event and looked up by the path's number.
//!
//! The rules read a few dozen distinct paths (`actor.id`, `details.url`).
//! They are numbered when the rules load ([`Paths`]), and the reader of the
//! event line ([`super::partial`]) puts what each reaches straight into its
//! slot, so that evaluating a condition or a group key is an index, not a
//! walk that compares member names (`Node::get` and `memcmp` were a fifth
//! of the engine's instructions, issue 11's cost target). Events held as a
//! `Value` (tests, the rule files' examples) get the same view by walking
//! the paths with [`matcher::each`], whose semantics the reader follows.

use super::matcher;
use super::node::Node;

/// The number of a distinct field path.
pub type PathId = u16;

/// The top-level members every evaluation or alert reads, taken as they
/// are (`Node::get` semantics: the first of a repeated member, an array
/// not looked into).
pub const TOP: [&str; 4] = ["event_id", "timestamp", "event_type", "organization_uuid"];

/// [`TOP`]'s `event_id`.
pub const EVENT_ID: usize = 0;
/// [`TOP`]'s `timestamp`.
pub const TIMESTAMP: usize = 1;
/// [`TOP`]'s `event_type`.
pub const EVENT_TYPE: usize = 2;
/// [`TOP`]'s `organization_uuid`.
pub const ORGANIZATION: usize = 3;

/// The distinct paths the rules and suppressions read, numbered as they
/// are met (rule-load time only).
#[derive(Debug, Clone, Default)]
pub struct Paths(Vec<String>);

impl Paths {
    /// The number of `path`, given one when new.
    pub fn id(&mut self, path: &str) -> PathId {
        match self.0.iter().position(|p| p == path) {
            Some(at) => at as PathId,
            None => {
                self.0.push(path.to_owned());
                (self.0.len() - 1) as PathId
            }
        }
    }

    /// The path numbered `id`.
    pub fn name(&self, id: PathId) -> &str {
        &self.0[usize::from(id)]
    }

    /// How many paths there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What one event holds for the engine.
#[derive(Debug, Clone, Default)]
pub struct View<'a> {
    /// [`TOP`]'s members, as they are.
    top: [Option<Node<'a>>; 4],
    /// Every value reached, with its path, in reading order. An event's
    /// paths reach a dozen values at most: a scan is cheaper than sorting
    /// them by path or indexing the pack's every path (measured).
    found: Vec<(PathId, Node<'a>)>,
}

impl<'a> View<'a> {
    /// An empty view, to be filled by a reader.
    pub(super) fn empty() -> Self {
        Self {
            found: Vec::with_capacity(16),
            ..Self::default()
        }
    }

    /// The view of a whole event held as a tree: every path walked as
    /// [`matcher::each`] walks it.
    pub fn of(event: &Node<'a>, paths: &Paths) -> Self {
        let mut view = Self::empty();
        for (slot, name) in view.top.iter_mut().zip(TOP) {
            *slot = event.get(name).cloned();
        }
        for (id, path) in paths.0.iter().enumerate() {
            matcher::each(event, path, &mut |v| {
                view.found.push((id as PathId, v.clone()))
            });
        }
        view
    }

    /// Set the top-level member `index` of [`TOP`].
    pub(super) fn set_top(&mut self, index: usize, node: Node<'a>) {
        self.top[index] = Some(node);
    }

    /// Record a value reached by path `id`.
    pub(super) fn push(&mut self, id: PathId, node: Node<'a>) {
        self.found.push((id, node));
    }

    /// The top-level member `index` of [`TOP`].
    pub fn top(&self, index: usize) -> Option<&Node<'a>> {
        self.top[index].as_ref()
    }

    /// [`Self::top`] as a string.
    pub fn top_str(&self, index: usize) -> Option<&str> {
        self.top(index).and_then(Node::as_str)
    }

    /// Every value path `id` reaches, in the order [`matcher::values`]
    /// lists them (none when absent or null).
    pub fn values(&self, id: PathId) -> impl Iterator<Item = &Node<'a>> {
        self.found
            .iter()
            .filter(move |(p, _)| *p == id)
            .map(|(_, v)| v)
    }

    /// The first value path `id` reaches.
    pub fn first(&self, id: PathId) -> Option<&Node<'a>> {
        self.found.iter().find(|(p, _)| *p == id).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_reach_what_the_matcher_reaches() {
        let event = json!({"event_id": "e", "event_type": ["x"], "actor": {"id": "a"},
            "details": {"updates": [{"type": "a"}, null, {"type": null}, {"type": ["b", null]}]}});
        let node = Node::from_value(&event);
        let mut paths = Paths::default();
        let ids =
            ["details.updates.type", "actor.id", "actor.none", "details"].map(|p| paths.id(p));
        assert_eq!(paths.id("actor.id"), ids[1]);
        let view = View::of(&node, &paths);
        let texts = |id| view.values(id).map(Node::to_value).collect::<Vec<_>>();
        assert_eq!(texts(ids[0]), [json!("a"), json!("b")]);
        assert_eq!(texts(ids[1]), [json!("a")]);
        assert!(texts(ids[2]).is_empty());
        assert_eq!(
            view.first(ids[3]).map(Node::to_value),
            Some(event["details"].clone())
        );
        assert_eq!(view.top_str(EVENT_ID), Some("e"));
        assert_eq!(view.top_str(EVENT_TYPE), None);
        assert!(view.top(TIMESTAMP).is_none());
        assert_eq!(view.values(99).count(), 0);
    }
}
