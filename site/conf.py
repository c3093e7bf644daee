# Sphinx settings of the course website. `cvcourse site` copies this file into site/_build/src with the
# pages it writes there (see cvcourse_utils/site.py); edit it here.
project = "cvcourse"
author = "the cvcourse authors"
copyright = "the cvcourse authors, MIT licence"
html_title = "cvcourse"

extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
nb_execution_mode = "off"          # cvcourse site runs the lectures itself, with its own cache
nb_ipywidgets_js = {}              # widgets are shown as the figures they drew: no widget manager from a CDN
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure"]

# Formulas: MathJax from .venv/node (npm, at set-up), copied into _static; nothing is fetched from a CDN.
mathjax_path = "mathjax/tex-svg.js"
mathjax3_config = {"tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]},
                   "options": {"enableMenu": False}}

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_extra_path = ["../extra"]     # the slide decks and the labs to download
html_css_files = ["course.css"]
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
}
