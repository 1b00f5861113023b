"""Exact nearest neighbours: the block-maximum selection returns what a full sort of every column would."""

import numpy as np

from tagger.neighbours import BLOCK, largest_columns, nearest_rows


def brute_force(queries, database, k, skip_same_row):
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    database = database / np.linalg.norm(database, axis=1, keepdims=True)
    similarities = queries @ database.T
    if skip_same_row:
        np.fill_diagonal(similarities, -np.inf)
    order = np.argsort(-similarities, axis=1, kind="stable")[:, :k]  # equal values in row order
    return order, np.take_along_axis(similarities, order, 1)


def test_nearest_rows_equal_a_full_sort_through_block_maxima_and_a_short_last_block():
    random = np.random.default_rng(0)
    # 20,000 + 37 columns: the block path (k x BLOCK x 4 under the width) and a last block of 37 columns.
    database = random.normal(size=(20_037, 16)).astype(np.float32)
    rows, similarities = nearest_rows(database[:700], database, 10, skip_same_row=True)
    expected_rows, expected_similarities = brute_force(database[:700], database, 10, skip_same_row=True)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_allclose(similarities, expected_similarities, rtol=0, atol=1e-6)


def test_largest_columns_keeps_every_value_above_the_kth_and_never_a_column_twice():
    random = np.random.default_rng(1)
    # Few distinct values: many ties, also at the k-th value; and a last block of 5 columns.
    values = random.integers(0, 6, size=(50, 40 * BLOCK + 5)).astype(np.float32)
    values[:, -1] = 9  # the last column, in the short block, is every row's largest
    chosen = largest_columns(values, 7)
    for row, columns in zip(values, chosen):
        assert len(set(columns.tolist())) == 7
        kth = np.sort(row)[-7]
        assert np.all(row[columns] >= kth) and set(np.flatnonzero(row > kth)) <= set(columns.tolist())
        assert values.shape[1] - 1 in columns
