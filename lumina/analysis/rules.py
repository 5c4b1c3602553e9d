"""Rule versions and settings of the catalog-wide analyses (bursts, duplicates), in a module without
their heavy imports (numba, scipy): ``lumina.stages`` declares the stage graph from these, and every
worker process imports ``lumina.stages``. Importing ``lumina.analysis.duplicates`` there cost each
pixel worker about 0.5 s and 60-100 MB of RSS (numba) for code it never runs (issue 17).

A changed rule bumps its version here; existing catalogs then compute a new generation.
"""

# 2: camera-less frames, every vendor's burst id, sequence numbers
BURSTS_RULE_VERSION = 2
BURSTS_SETTING_NAMES = ("burst_max_gap_s", "burst_min_frames", "burst_continuity_bits", "burst_continuity_mad",
                        "burst_max_distance_m")

# 2: frames of one detected burst are burst siblings; 3: issue 14 (clusters, videos, local difference, crops);
# 4: crops refined to rectangles and bounded locally, derivatives weighed by content share
DUPLICATES_RULE_VERSION = 4
DUPLICATES_SETTING_NAMES = ("duplicate_radius_bits", "duplicate_max_group", "burst_max_gap_s")
