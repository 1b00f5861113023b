"""Exact nearest neighbours: the block-maximum selection returns what a full sort of every column would, equal
similarities in row order (tags on the same images have equal vectors)."""

import numpy as np

from tagger import neighbours
from tagger.neighbours import BLOCK, best_columns, nearest_rows


def full_sort(queries, database, k, skip_same_row):
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    database = database / np.linalg.norm(database, axis=1, keepdims=True)
    # Summed in float64, as nearest_rows sums them: a float32 product can give equal rows different last bits.
    similarities = (queries.astype(np.float64) @ database.T.astype(np.float64)).astype(np.float32)
    if skip_same_row:
        np.fill_diagonal(similarities, -np.inf)
    order = np.argsort(-similarities, axis=1, kind="stable")[:, :k]  # equal values in row order
    return order, np.take_along_axis(similarities, order, 1)


def test_nearest_rows_equal_a_full_sort_with_ties_in_row_order_across_chunks(monkeypatch):
    random = np.random.default_rng(0)
    # 60 distinct vectors over 20,037 rows: every neighbour ties with hundreds of others. Blocks of 64 and a
    # last block of 37 columns (k x BLOCK x 4 under the width), in database chunks of 6,000 rows.
    database = random.normal(size=(60, 16)).astype(np.float32)[random.integers(0, 60, 20_037)]
    monkeypatch.setattr(neighbours, "DATABASE_CHUNK", 6_000)
    rows, similarities = nearest_rows(database[:700], database, 10, skip_same_row=True)
    expected_rows, expected_similarities = full_sort(database[:700], database, 10, skip_same_row=True)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_allclose(similarities, expected_similarities, rtol=0, atol=1e-6)


def test_best_columns_is_a_stable_full_sort_whatever_the_values():
    random = np.random.default_rng(1)
    values = random.integers(0, 6, size=(50, 40 * BLOCK + 5)).astype(np.float32)  # ties everywhere
    values[:, -1] = 9  # the last column, in the short block, is every row's largest
    values[0, :] = -np.inf  # a row of -inf: its first 7 columns
    values[1, :-3] = -np.inf
    for k in (1, 7, 40):
        np.testing.assert_array_equal(best_columns(values, k), np.argsort(-values, axis=1, kind="stable")[:, :k])
    # Without ties the k best lie in the k blocks taken (the shorter path); a -inf on each row, as its own.
    values = random.normal(size=(50, 40 * BLOCK + 5)).astype(np.float32)
    values[np.arange(50), np.arange(50)] = -np.inf
    for k in (1, 7):
        np.testing.assert_array_equal(best_columns(values, k), np.argsort(-values, axis=1, kind="stable")[:, :k])
