"""Grouping tags into variant groups from per-tag mean image embeddings."""

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.cluster import DBSCAN
from sklearn.preprocessing import normalize


def tag_image_matrix(image_tags: list[list[str]], vocabulary: list[str]) -> sparse.csr_matrix:
    """tags x images, 1 where the image carries the tag."""
    column = {tag: index for index, tag in enumerate(vocabulary)}
    rows, cols = [], []
    for image_index, tags in enumerate(image_tags):
        for tag in tags:
            if tag in column:
                rows.append(column[tag])
                cols.append(image_index)
    return sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(vocabulary), len(image_tags)))


def tag_mean_embeddings(tag_images: sparse.csr_matrix, embeddings: np.ndarray, center: bool) -> np.ndarray:
    """Each tag's mean image embedding, L2-normalized; centering removes what all images share."""
    embeddings = np.asarray(embeddings, np.float32)
    if center:
        embeddings = embeddings - embeddings.mean(axis=0, keepdims=True)
    counts = np.asarray(tag_images.sum(axis=1)).ravel()
    means = np.asarray(tag_images @ embeddings) / np.maximum(counts, 1)[:, None]
    return normalize(means)


@dataclass
class VariantGroup:
    canonical: str
    members: list[str]  # canonical first, then by count
    counts: list[int]
    similarities: list[float]  # cosine similarity of each member's mean embedding to the canonical's


class DBSCANVariants:
    """DBSCAN with cosine distance over per-tag mean embeddings; each cluster of 2+ tags is a group."""

    def __init__(self, eps: float = 0.3, min_samples: int = 2):
        self.eps = eps
        self.min_samples = min_samples

    def fit(self, tag_vectors: np.ndarray, vocabulary: list[str], counts: list[int]) -> "DBSCANVariants":
        if len(vocabulary) != len(tag_vectors) or len(counts) != len(vocabulary):
            raise ValueError(f"need one vector and one count per tag; received {len(tag_vectors)} vectors, "
                             f"{len(vocabulary)} tags, {len(counts)} counts")
        if len(vocabulary) < self.min_samples:
            self.labels_ = np.full(len(vocabulary), -1)
        else:
            self.labels_ = DBSCAN(eps=self.eps, min_samples=self.min_samples, metric="cosine").fit(tag_vectors).labels_
        self.groups_ = []
        for label in sorted(set(self.labels_) - {-1}):
            members = np.flatnonzero(self.labels_ == label)
            # The canonical tag is the most used spelling; ties go to the alphabetically first.
            ordered = sorted(members, key=lambda i: (-counts[i], vocabulary[i]))
            canonical = ordered[0]
            self.groups_.append(VariantGroup(
                canonical=vocabulary[canonical],
                members=[vocabulary[i] for i in ordered],
                counts=[int(counts[i]) for i in ordered],
                similarities=[float(tag_vectors[i] @ tag_vectors[canonical]) for i in ordered],
            ))
        self.groups_.sort(key=lambda group: (-sum(group.counts), group.canonical))
        return self
