"""Selective search (Uijlings, van de Sande, Gevers & Smeulders, IJCV 2013), the proposal method
of R-CNN: bottom-up grouping of Felzenszwalb regions, in several colour spaces and with several
similarities, whose regions' boxes are the object hypotheses.

>>> from lecturelib.data import load_photo
>>> boxes = selective_search(load_photo("coffee"), mode="fast")      # Float32[N, 4], best first

One idea per file, in reading order:

- ``colour.py``      the colour spaces (RGB, HSV, Lab, rgI, H, I) and input conversion;
- ``felzenszwalb.py`` Felzenszwalb & Huttenlocher's segmentation (scikit-image's, compiled);
- ``regions.py``     the initial regions, their sizes, boxes and neighbours;
- ``features.py``    colour (25 bins/channel) and texture (8 orientations × 10 bins) histograms;
- ``similarity.py``  s_colour, s_texture, s_size, s_fill and their combinations;
- ``grouping.py``    Algorithm 1 (hierarchical grouping) with its merge history, ``Hierarchy``;
- ``strategies.py``  the single / fast / quality strategy sets, the paper's ranking and two others;
- ``search.py``      ``selective_search`` putting it all together;
- ``opencv.py``      OpenCV's implementation, the peer we measure against (optional).
"""
from .colour import COLOUR_SPACES, as_rgb_image, to_colour_space
from .features import colour_histograms, merge_histograms, texture_histograms
from .grouping import Hierarchy, group_regions, hierarchical_grouping
from .regions import initial_regions, neighbour_pairs, sizes_and_boxes
from .search import SelectiveSearchResult, selective_search
from .similarity import (SIMILARITIES, colour_similarity, fill_similarity, size_similarity,
                         texture_similarity)
from .strategies import (MODES, RANKINGS, STRATEGIES, Strategy, make_strategies, rank_regions,
                         region_positions)

__all__ = [
    "COLOUR_SPACES",
    "MODES",
    "RANKINGS",
    "SIMILARITIES",
    "STRATEGIES",
    "Hierarchy",
    "SelectiveSearchResult",
    "Strategy",
    "as_rgb_image",
    "colour_histograms",
    "colour_similarity",
    "fill_similarity",
    "group_regions",
    "hierarchical_grouping",
    "initial_regions",
    "make_strategies",
    "merge_histograms",
    "neighbour_pairs",
    "rank_regions",
    "region_positions",
    "selective_search",
    "size_similarity",
    "sizes_and_boxes",
    "texture_histograms",
    "texture_similarity",
    "to_colour_space",
]
