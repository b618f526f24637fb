"""RequestServerVersion values (the product schema's ExchangeVersionType, in order)."""

ALL_VERSIONS: tuple[str, ...] = (
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2009",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2012",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
    "V2017_01_07",
    "V2017_04_14",
    "V2017_07_11",
    "V2017_10_09",
    "V2018_01_08",
)

# The UCS operations appeared in Exchange 2013; older request versions cannot name them.
MINIMUM_VERSION = "Exchange2013"
DEFAULT_VERSION = "Exchange2013"
SUPPORTED_VERSIONS = frozenset(ALL_VERSIONS[ALL_VERSIONS.index(MINIMUM_VERSION) :])
