//! Per-batch-size device state (buffers, bound kernels or runs) kept by model instances: made
//! on first use of a batch size, reused after, and the least recently used size dropped when
//! more than [`BOUND_BATCH_SIZES`] are held.

/// Batch sizes an instance keeps bound at once.
pub(crate) const BOUND_BATCH_SIZES: usize = 8;

/// Bound state per batch size, most recently used last.
pub(crate) struct BoundBatches<T> {
    entries: Vec<(usize, T)>,
}

impl<T> Default for BoundBatches<T> {
    fn default() -> Self {
        BoundBatches { entries: Vec::new() }
    }
}

impl<T> BoundBatches<T> {
    /// The state for `batch`, made by `bind` if it is not held yet.
    pub fn get_or_bind<E>(
        &mut self,
        batch: usize,
        bind: impl FnOnce(usize) -> Result<T, E>,
    ) -> Result<&mut T, E> {
        if let Some(at) = self.entries.iter().position(|(b, _)| *b == batch) {
            let entry = self.entries.remove(at);
            self.entries.push(entry);
        } else {
            let bound = bind(batch)?;
            if self.entries.len() >= BOUND_BATCH_SIZES {
                self.entries.remove(0);
            }
            self.entries.push((batch, bound));
        }
        let last = self.entries.len() - 1;
        Ok(&mut self.entries[last].1)
    }

    /// The least recently used entry, if any.
    pub fn oldest(&self) -> Option<&T> {
        self.entries.first().map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_drops_the_least_recently_used() {
        let mut made = Vec::new();
        let mut cache = BoundBatches::default();
        for batch in (1..=BOUND_BATCH_SIZES + 1).chain([2, 1]) {
            let got = cache
                .get_or_bind(batch, |b| {
                    made.push(b);
                    Ok::<_, ()>(b * 10)
                })
                .map(|v| *v);
            assert_eq!(got, Ok(batch * 10));
        }
        // 1..=9 made once each; 2 was still held; 1 had been dropped and is made again.
        let mut want: Vec<usize> = (1..=BOUND_BATCH_SIZES + 1).collect();
        want.push(1);
        assert_eq!(made, want);
    }
}
