"""Real survival data shipped with scikit-survival, in the package's own format."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ._frames import as_levels, decode, finish, split_sksurv_target

_NO_YES = {"0": "no", "1": "yes"}


def _sksurv_datasets():
    try:
        from sksurv import datasets
    except ImportError as err:  # pragma: no cover - sksurv is a core dependency
        raise ImportError(
            "this loader reads data shipped with scikit-survival; install it with "
            "`pip install scikit-survival`"
        ) from err
    return datasets


def load_gbsg2() -> tuple[pd.DataFrame, np.ndarray]:
    """German Breast Cancer Study Group 2 trial: recurrence-free survival.

    686 women with primary node-positive breast cancer, 299 events (recurrence or
    death); time in days. No rows are removed (the data have no missing values).

    Covariates (8):

    - ``age`` (float, years), ``tsize`` (float, tumour size in mm), ``pnodes``
      (float, number of positive lymph nodes), ``progrec`` and ``estrec`` (float,
      progesterone and oestrogen receptor, fmol/l);
    - ``horTh`` (category ``no``/``yes``: hormonal therapy), ``menostat``
      (category ``Pre``/``Post``: menopausal status), ``tgrade`` (category
      ``I``/``II``/``III``: tumour grade).

    Returns
    -------
    X : pandas.DataFrame of shape (686, 8)
        Covariates; the first level of each categorical is the reference level.
    y : numpy.ndarray of shape (686,)
        Structured array with fields ``event`` (bool) and ``time`` (float64).

    References
    ----------
    Schumacher et al. (1994), J Clin Oncol 12(10), 2086-2093. Source:
    :func:`sksurv.datasets.load_gbsg2` (the ``GBSG2`` data of the R package TH.data).
    """
    X, y = _sksurv_datasets().load_gbsg2()
    X = X.copy()
    X["horTh"] = as_levels(X["horTh"], ["no", "yes"])
    X["menostat"] = as_levels(X["menostat"], ["Pre", "Post"])
    X["tgrade"] = as_levels(X["tgrade"], ["I", "II", "III"])
    return finish(X, *split_sksurv_target(y))


def load_whas500() -> tuple[pd.DataFrame, np.ndarray]:
    """Worcester Heart Attack Study (WHAS500): survival after acute myocardial infarction.

    500 patients, 215 deaths; time (``lenfol``) in days since admission. No rows are
    removed (the data have no missing values).

    Covariates (14):

    - float: ``age`` (years), ``bmi`` (kg/m^2), ``diasbp`` and ``sysbp`` (initial
      diastolic/systolic blood pressure, mmHg), ``hr`` (initial heart rate, beats per
      minute), ``los`` (length of hospital stay, days);
    - category ``no``/``yes``: ``afb`` (atrial fibrillation), ``av3`` (complete
      heart block), ``chf`` (congestive heart complications), ``cvd`` (history of
      cardiovascular disease), ``sho`` (cardiogenic shock);
    - ``gender`` (category ``male``/``female``), ``miord`` (category
      ``first``/``recurrent``: MI order), ``mitype`` (category
      ``non-Q-wave``/``Q-wave``).

    Returns
    -------
    X : pandas.DataFrame of shape (500, 14)
        Covariates; the first level of each categorical is the reference level.
    y : numpy.ndarray of shape (500,)
        Structured array with fields ``event`` (bool) and ``time`` (float64).

    References
    ----------
    Hosmer, Lemeshow and May (2008), *Applied Survival Analysis*, 2nd ed., Wiley.
    Source: :func:`sksurv.datasets.load_whas500`.
    """
    X, y = _sksurv_datasets().load_whas500()
    X = X.copy()
    for column in ("afb", "av3", "chf", "cvd", "sho"):
        X[column] = decode(X[column], _NO_YES, column)
    X["gender"] = decode(X["gender"], {"0": "male", "1": "female"}, "gender")
    X["miord"] = decode(X["miord"], {"0": "first", "1": "recurrent"}, "miord")
    X["mitype"] = decode(X["mitype"], {"0": "non-Q-wave", "1": "Q-wave"}, "mitype")
    return finish(X, *split_sksurv_target(y))


def load_flchain() -> tuple[pd.DataFrame, np.ndarray]:
    """Serum free light chains and mortality (Olmsted County, Minnesota).

    The source has 7,874 residents aged 50 or more and 2,169 deaths; time
    (``futime``) in days. Two changes are made:

    - the column ``chapter`` (ICD chapter of the cause of death) is dropped: it is
      only known for those who died, so it leaks the outcome;
    - the 1,350 rows with a missing ``creatinine`` are dropped,

    which leaves 6,524 subjects and 1,962 deaths.

    Covariates (8):

    - float: ``age`` (years), ``kappa`` and ``lambda`` (serum free light chain
      kappa/lambda portions, mg/l), ``creatinine`` (serum creatinine, mg/dl);
    - ``sex`` (category ``female``/``male``), ``mgus`` (category ``no``/``yes``:
      diagnosed with monoclonal gammopathy), ``flc_grp`` (category ``1`` ... ``10``:
      decile group of the total free light chain), ``sample_yr`` (category
      ``1995`` ... ``2003``: year the blood sample was taken). The last two are
      renamed from ``flc.grp`` and ``sample.yr`` so that formulas can name them
      without backquotes.

    Returns
    -------
    X : pandas.DataFrame of shape (6524, 8)
        Covariates; the first level of each categorical is the reference level.
    y : numpy.ndarray of shape (6524,)
        Structured array with fields ``event`` (bool) and ``time`` (float64).

    References
    ----------
    Dispenzieri et al. (2012), Mayo Clin Proc 87(6), 517-523. Source:
    :func:`sksurv.datasets.load_flchain` (the ``flchain`` data of the R package
    survival).
    """
    X, y = _sksurv_datasets().load_flchain()
    X = X.drop(columns=["chapter"], errors="ignore")
    X = X.rename(columns={"flc.grp": "flc_grp", "sample.yr": "sample_yr"})
    X["sex"] = decode(X["sex"], {"F": "female", "M": "male"}, "sex")
    X["mgus"] = as_levels(X["mgus"], ["no", "yes"])
    X["flc_grp"] = as_levels(X["flc_grp"], [str(k) for k in range(1, 11)])
    years = sorted(X["sample_yr"].dropna().astype(str).unique(), key=int)
    X["sample_yr"] = as_levels(X["sample_yr"].astype(str), years)
    return finish(X, *split_sksurv_target(y), dropna=True)


def load_veterans() -> tuple[pd.DataFrame, np.ndarray]:
    """Veterans' Administration lung cancer trial.

    137 men with advanced inoperable lung cancer, 128 deaths; time in days. No rows
    are removed (the data have no missing values).

    Covariates (6), named as in scikit-survival:

    - float: ``Age_in_years``, ``Karnofsky_score`` (performance status, 0-100),
      ``Months_from_Diagnosis``;
    - ``Celltype`` (category ``squamous``/``smallcell``/``adeno``/``large``),
      ``Prior_therapy`` (category ``no``/``yes``), ``Treatment`` (category
      ``standard``/``test``: the randomized arm).

    Returns
    -------
    X : pandas.DataFrame of shape (137, 6)
        Covariates; the first level of each categorical is the reference level.
    y : numpy.ndarray of shape (137,)
        Structured array with fields ``event`` (bool) and ``time`` (float64).

    References
    ----------
    Kalbfleisch and Prentice (2002), *The Statistical Analysis of Failure Time
    Data*, 2nd ed., Wiley. Source: :func:`sksurv.datasets.load_veterans_lung_cancer`.
    """
    X, y = _sksurv_datasets().load_veterans_lung_cancer()
    X = X.copy()
    X["Celltype"] = as_levels(X["Celltype"], ["squamous", "smallcell", "adeno", "large"])
    X["Prior_therapy"] = as_levels(X["Prior_therapy"], ["no", "yes"])
    X["Treatment"] = as_levels(X["Treatment"], ["standard", "test"])
    return finish(X, *split_sksurv_target(y))


_AIDS_LABELS = {
    "tx": {"0": "control", "1": "indinavir"},
    "strat2": {"0": "cd4<=50", "1": "cd4>50"},
    "sex": {"1": "male", "2": "female"},
    "raceth": {
        "1": "white",
        "2": "black",
        "3": "hispanic",
        "4": "asian_pacific",
        "5": "american_indian",
        "6": "other",
    },
    "ivdrug": {"1": "never", "2": "currently", "3": "previously"},
    "hemophil": _NO_YES,
}


def load_aids(endpoint: Literal["aids", "death"] = "aids") -> tuple[pd.DataFrame, np.ndarray]:
    """AIDS Clinical Trials Group study 320: indinavir added to two nucleosides.

    1,151 HIV-infected patients; time in days. With ``endpoint="aids"`` the event is
    an AIDS defining event or death (96 events), with ``endpoint="death"`` death
    alone (26 events). No rows are removed (the data have no missing values).

    Covariates (10):

    - float: ``age`` (years), ``cd4`` (baseline CD4 count, cells/ml), ``priorzdv``
      (months of prior ZDV use), ``karnof`` (Karnofsky score: 70, 80, 90 or 100);
    - ``tx`` (category ``control``/``indinavir``: the randomized arm), ``strat2``
      (category ``cd4<=50``/``cd4>50``: CD4 stratum at screening), ``sex``
      (category ``male``/``female``), ``raceth`` (category ``white``, ``black``,
      ``hispanic``, ``asian_pacific``, ``american_indian``, ``other``; levels absent
      from the data are dropped), ``ivdrug`` (category
      ``never``/``currently``/``previously``: IV drug use), ``hemophil`` (category
      ``no``/``yes``: hemophiliac).

    The column ``txgrp`` of the source (treatment group: ZDV+3TC, ZDV+3TC+IDV,
    d4T+3TC, d4T+3TC+IDV) is dropped: it equals ``tx`` except for 3 patients on d4T,
    so the two are collinear in a regression.

    Parameters
    ----------
    endpoint : {"aids", "death"}, default="aids"
        Which event to use.

    Returns
    -------
    X : pandas.DataFrame of shape (1151, 10)
        Covariates; the first level of each categorical is the reference level.
    y : numpy.ndarray of shape (1151,)
        Structured array with fields ``event`` (bool) and ``time`` (float64).

    References
    ----------
    Hammer et al. (1997), N Engl J Med 337, 725-733; Hosmer, Lemeshow and May (2008),
    *Applied Survival Analysis*, 2nd ed., Wiley. Source:
    :func:`sksurv.datasets.load_aids`.
    """
    if endpoint not in ("aids", "death"):
        raise ValueError(f"endpoint must be 'aids' or 'death'; got {endpoint!r}")
    X, y = _sksurv_datasets().load_aids(endpoint=endpoint)
    X = X.drop(columns=["txgrp"], errors="ignore")
    for column, labels in _AIDS_LABELS.items():
        X[column] = decode(X[column].astype(str), labels, column)
    X["karnof"] = X["karnof"].astype(str).astype(np.float64)
    return finish(X, *split_sksurv_target(y))
