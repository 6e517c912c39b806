"""Benchmarks of structunstruct: runnable scripts whose result tables are committed.

The suites that the command line runs ship in the package
(:mod:`structunstruct.benchmarks`, one registry); importing this package registers the
repository's measurement scripts below into that same registry, so
``python -m benchmarks NAME [--quick] [options]`` runs any of them and
``python -m benchmarks --list`` lists all. Results go to ``benchmarks/results/``. Speed is
measured here, never asserted in unit tests.
"""

from __future__ import annotations

from structunstruct.benchmarks import Benchmark, register_benchmark

REPOSITORY_BENCHMARKS = (
    Benchmark("coverage", "benchmarks.coverage:main",
              "95% Wald interval coverage of every head's classical fit",
              results=("coverage.csv", "coverage.md"), full=("--replicates", "1000"), extra=None),
    Benchmark("fusion_gap", "benchmarks.fusion_gap:main",
              "every fusion strategy on semi-synthetic survival images: share of the "
              "tabular-to-oracle gap closed", results=("fusion_gap.csv", "fusion_gap.md"),
              quick=None),
    Benchmark("modalities", "benchmarks.modalities:main",
              "two images, a note and tabular columns with an oracle: single-modality, joint "
              "and late fusion and the chapter's multimodal models (DeepCorrSurv, ConcatAE, "
              "CrossAE, Cheerla, CLIP, MultiSurv); Law et al. 2019 regression",
              results=("modalities.csv", "modalities_law.csv", "modalities.md"),
              full=("--jobs", "2"), extra=None),
    Benchmark("orthogonalization", "benchmarks.orthogonalization:main",
              "structured-effect recovery next to a deep part (--image, --models: the other "
              "tables)", results=("orthogonalization.csv", "orthogonalization.md",
                                  "orthogonalization_image.md", "orthogonalization_models.csv",
                                  "orthogonalization_models.md"), extra=None),
    Benchmark("batch_size", "benchmarks.batch_size:main",
              "image Cox at small batch sizes, with and without the events sampler and "
              "risk-set memory", results=("batch_size.csv", "batch_size.md"), quick=None,
              extra=None),
    Benchmark("image_throughput", "benchmarks.image_throughput:main",
              "training throughput from a DataFrame of PNG paths against a bare timm step "
              "(--out STEM writes STEM.csv/.md)", extra=None),
    Benchmark("scale", "benchmarks.scale:main",
              "classical Cox at up to 1e7 rows: time and peak memory beside lifelines and "
              "scikit-survival", results=("scale.csv", "scale.md"), quick=None, extra=None),
    Benchmark("scale_images", "benchmarks.scale_images:main",
              "one joint-fusion DeepSurv epoch on up to 1e6 memory-mapped cached 28x28 images",
              results=("scale_images.csv", "scale_images.md"), quick=None, extra=None),
    Benchmark("tuning", "benchmarks.tuning:main",
              "default against tuned DeepSurv inside an outer cross-validation",
              results=("tuning.csv", "tuning.md"), quick=None, extra="tune"),
    Benchmark("tuning_images", "benchmarks.tuning_images:main",
              "tuned joint fusion on the held-out rows of fusion_gap",
              results=("tuning_images.csv", "tuning_images.md"), quick=None, extra="tune"),
    Benchmark("mutation_probe", "benchmarks.mutation_probe:main",
              "do the tests fail when the core math is wrong? (one plausible bug at a time)",
              results=("mutation_probe.md",), quick=("--list",), extra=None),
)

for _benchmark in REPOSITORY_BENCHMARKS:
    register_benchmark(_benchmark)
