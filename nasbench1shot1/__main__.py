"""`python -m nasbench1shot1`: the same as `nb1s1-search`."""

from nasbench1shot1.search_app import main

if __name__ == "__main__":
    main()
