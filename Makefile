# Two commands (see README): `make book` builds the book, `make test` runs every test.
# Both create .venv on first use. `make test` checks the import layering (import-linter), then runs the
# docstring examples, the unit tests and nbval on every chapter, on two workers (a file's tests stay on one). torch is pinned to a CPU build that installs quickly here.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH   ?= torch==2.13.0
export NEURCOMP_PROFILE ?= quick
# the notebooks run with book/ as working directory: make a relative data path absolute
ifneq ($(NEURCOMP_DATA),)
export NEURCOMP_DATA := $(abspath $(NEURCOMP_DATA))
endif

.PHONY: book site site-student book-student pdf pdf-student notebooks test test-fast install clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev,book]"
	touch $@

install: $(BIN)/.installed

book: $(BIN)/.installed
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# the site as published: the whole-book PDF cut into chapters first, then the HTML, whose download menus offer
# each chapter's PDF next to its .ipynb and slides (make book alone offers the chapter PDFs that are current)
site: pdf book

# for a course: the book without solutions (exercises keep their numbers), from the committed outputs
book-student: $(BIN)/.installed
	$(BIN)/python -m neurcomp.book.build --student --out _build/student

# the whole book as one PDF from the committed outputs (no cell runs): _build/pdf/neurcomp.pdf. Needs TeX:
# apt-get install latexmk texlive-xetex texlive-latex-extra texlive-fonts-recommended fonts-freefont-otf lmodern
pdf: $(BIN)/.installed
	$(BIN)/python -m neurcomp.book.build --pdf --out _build/pdf

# the same without solutions (exercises keep their numbers): _build/pdf-student/neurcomp.pdf
pdf-student: $(BIN)/.installed
	$(BIN)/python -m neurcomp.book.build --pdf --student --out _build/pdf-student

# the student site: the student PDF's chapters (no solutions) in the student HTML's download menus
site-student: pdf-student book-student

# every chapter twice, as published and stripped of outputs and solutions: _build/notebooks.zip
notebooks: $(BIN)/.installed
	$(BIN)/python -m neurcomp.book.build --notebooks _build/notebooks.zip

test: $(BIN)/.installed
	@test -z "$(NEURCOMP_DATA)" || test -d "$(NEURCOMP_DATA)" || { echo "NEURCOMP_DATA=$(NEURCOMP_DATA) is not a folder"; exit 2; }
	$(BIN)/lint-imports
	$(BIN)/python -m pytest neurcomp tests book --doctest-modules --nbval --ignore=_build --ignore=book/_build -p no:cacheprovider \
		-n 2 --dist loadfile

# the quick loop for contributors: every unit, property and golden test that needs no training, no fresh
# process, no kernel and no notebook (tests marked slow are left out), under 3 minutes on 2 cores
test-fast: $(BIN)/.installed
	$(BIN)/lint-imports
	$(BIN)/python -m pytest neurcomp tests --doctest-modules -m "not slow" --ignore=tests/test_browser.py \
		-p no:cacheprovider -n 2 --dist loadfile -q

clean:
	rm -rf _build .pytest_cache
