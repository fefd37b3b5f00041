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

# nbgrader runs the notebooks with nbclient. Its stand-in for an ipywidgets Output widget (every
# explorer has one) sends the widget's new state to the kernel on the shell channel while it is
# waiting on that same channel for the cell's reply; now and then the reply is then noticed
# only when the cell's timeout expires (jupyter/nbclient#312): measured here, 5 explorer cells
# in 30 runs of lesson 2 stalled for the whole timeout. Grading does not need the kernel to
# hear that state (the outputs are recorded either way), so it is not sent.
try:
    import nbclient.output_widget

    nbclient.output_widget.OutputWidget.sync_state = lambda self: None
except ImportError:  # an nbclient without the stand-in cannot stall that way
    pass
