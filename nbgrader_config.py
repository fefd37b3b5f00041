# nbgrader's configuration for the course (https://nbgrader.readthedocs.io).
#
# The lessons in notebooks/ are the instructor versions: their exercise cells carry nbgrader's
# markers (### BEGIN/END SOLUTION, ### BEGIN/END HIDDEN TESTS) and cell metadata (grade ids,
# points, locked cells). `make assignments` copies each lesson into nbgrader's course layout
#
#     source/<lesson>/<lesson>.ipynb      (a copy, rebuilt every time: edit notebooks/, not this)
#     release/<lesson>/<lesson>.ipynb     (the student version: stubs, no hidden tests)
#
# and runs `nbgrader generate_assignment <lesson>` on it. Neither folder is committed. The
# README's "For instructors" section has the whole release -> collect -> autograde round.
c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = "lecturelib"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# What a student finds in place of a solution: a line that says what to do, not a bare error.
# (Short enough that `nbgrader validate` prints it whole.)
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\n"
              'raise NotImplementedError("Exercise not done yet: '
              'write your code in place of this line.")'
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A lesson runs top to bottom in about 20 s on two cores; give a loaded machine room.
c.Execute.timeout = 300

# No work-around for nbclient's Output-widget stall (jupyter/nbclient#312) is needed here: the
# explorers send their figure as an ipywidgets Image, and no lesson uses an Output widget
# (lecturelib/widgets/_explorer.py; tests/test_widgets.py checks it).
