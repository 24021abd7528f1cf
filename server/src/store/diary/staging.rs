//! Writes staged in memory in front of the diary tree: a group of pushes reads its own
//! writes before they reach sled, and a push that fails is dropped without touching the
//! others' writes.

use rustc_hash::FxHashMap;
use sled::IVec;

use super::super::StoreError;

/// Staged writes (`None` removes) over what the tree holds.
///
/// Keyed with a fast non-cryptographic hash: the keys are the server's own (kind, patient,
/// id), hashed for every read and write of a push, and a group holds a few thousand.
#[derive(Default)]
pub(super) struct Layer {
    writes: FxHashMap<Vec<u8>, Option<IVec>>,
}

impl Layer {
    /// The staged value of `key`: `Some(None)` when it is staged as removed, `None` when
    /// this layer does not know it.
    fn staged(&self, key: &[u8]) -> Option<Option<IVec>> {
        self.writes.get(key).cloned()
    }

    /// Stages `value` under `key`.
    pub(super) fn insert(&mut self, key: Vec<u8>, value: impl Into<IVec>) {
        self.writes.insert(key, Some(value.into()));
    }

    /// Stages the removal of `key`.
    pub(super) fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Moves every write of `upper` into this layer (a push that succeeded joins its group).
    pub(super) fn absorb(&mut self, upper: Layer) {
        if self.writes.is_empty() {
            // The first push of a group (often the only one): no need to hash it all again.
            self.writes = upper.writes;
        } else {
            self.writes.extend(upper.writes);
        }
    }

    /// The staged writes as one atomic sled batch.
    pub(super) fn into_batch(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (key, value) in self.writes {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        batch
    }
}

/// A push's own layer over its group's layer over the tree.
pub(super) struct View<'a> {
    pub(super) tree: &'a sled::Tree,
    pub(super) group: &'a Layer,
    pub(super) own: Layer,
}

impl View<'_> {
    /// The current value of `key`, staged writes first.
    pub(super) fn get(&self, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        if let Some(value) = self.own.staged(key) {
            return Ok(value);
        }
        if let Some(value) = self.group.staged(key) {
            return Ok(value);
        }
        Ok(self.tree.get(key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_the_push_then_the_group_then_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("t").unwrap();
        tree.insert(b"a", b"tree").unwrap();
        tree.insert(b"b", b"tree").unwrap();
        tree.insert(b"c", b"tree").unwrap();
        let mut group = Layer::default();
        group.insert(b"b".to_vec(), b"group".to_vec());
        group.remove(b"c".to_vec());
        let mut view = View {
            tree: &tree,
            group: &group,
            own: Layer::default(),
        };
        view.own.insert(b"a".to_vec(), b"own".to_vec());
        assert_eq!(view.get(b"a").unwrap().unwrap(), b"own");
        assert_eq!(view.get(b"b").unwrap().unwrap(), b"group");
        assert_eq!(view.get(b"c").unwrap(), None);
        assert_eq!(view.get(b"d").unwrap(), None);

        let own = std::mem::take(&mut view.own);
        group.absorb(own);
        tree.apply_batch(group.into_batch()).unwrap();
        assert_eq!(tree.get(b"a").unwrap().unwrap(), b"own");
        assert_eq!(tree.get(b"b").unwrap().unwrap(), b"group");
        assert_eq!(tree.get(b"c").unwrap(), None);
    }
}
