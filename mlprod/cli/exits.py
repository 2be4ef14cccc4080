"""What ``mlprod``'s exit status means, for scripts and CI."""

EXIT_OK = 0  # done
EXIT_ROW_ERRORS = 1  # done, but some rows had errors (they are in the output's error column)
EXIT_HOLD = 1  # `mlprod gate`: the candidate is not promoted (the reasons are printed)
EXIT_BAD_INPUT = 2  # unusable input: nothing done
EXIT_DATABASE = 3  # the history is locked or unusable: nothing saved
EXIT_INTERNAL = 4  # a bug: its traceback is in the file the message names
