"""The backprop player in a real browser (headless Chromium): buttons, keys, slider, classes, no errors.

Skips with one summary line where Chromium, chromedriver or selenium is missing (see
player_support.py); CI sets TINYGRAD_CNN_REQUIRE_BROWSER=1 so these must run there. Each test
saves a screenshot under its tmp folder; the LeNet one is also copied to build/player-screenshot.png.
"""
import os
import shutil

import pytest

import tinygrad_cnn.functional as F
from player_support import render_problem, unavailable
from tinygrad_cnn import Tensor
from tinygrad_cnn.gallery import model_and_batch
from tinygrad_cnn.player import player, save_player

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCREENSHOT = os.path.join(ROOT, "build", "player-screenshot.png")


@pytest.fixture(scope="module", autouse=True)
def graphs_render():
    problem = render_problem()
    if problem:
        unavailable(problem, "install Graphviz")


def lenet_page(tmp_path):
    model, images, labels = model_and_batch("lenet", 0)
    loss = F.cross_entropy(model(Tensor(images)), labels)
    path = save_player(loss, tmp_path / "lenet.html", params=model, title="LeNet-5: backprop, step by step")
    return path, list(loss.backward_steps())  # the same graph, stepped after the player ran


def js(browser, script, *args):
    return browser.execute_script(script, *args)


def read(browser, element_id):
    return js(browser, "return document.getElementById(arguments[0]).textContent;", element_id)


def marked(browser, cls):
    return js(browser, "return Array.from(document.querySelectorAll('#graph svg .' + arguments[0]))"
                       ".map(function (e) { return e.getAttribute('data-node'); });", cls)


def step_node(browser, k):
    """The SVG node name the page assigns to step k (1-based)."""
    return js(browser, "return JSON.parse(document.getElementById('player-data').textContent)"
                       ".steps[arguments[0] - 1].node;", k)


def console_errors(browser):
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def press(browser, key):
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).send_keys(key).perform()


def test_stepping_through_lenet(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    path, steps = lenet_page(tmp_path)
    n = len(steps)
    browser.get("file://" + os.path.abspath(path))
    assert read(browser, "counter") == f"0 / {n}"
    assert marked(browser, "current") == [] and marked(browser, "done") == []

    for _ in range(3):
        browser.find_element(By.ID, "next").click()
    assert read(browser, "counter") == f"3 / {n}"
    assert read(browser, "op") == steps[2].op
    assert read(browser, "rule") == steps[2].rule
    shape = "scalar" if steps[2].grad.shape == () else "(" + ", ".join(map(str, steps[2].grad.shape)) + ")"
    assert read(browser, "grad").startswith(shape + ", ‖g‖ = ")
    current = js(browser, "return document.querySelectorAll('#graph svg .current').length;")
    assert current == 1, "exactly one SVG element is the current step"
    assert marked(browser, "current") == [step_node(browser, 3)]
    assert sorted(marked(browser, "done")) == sorted([step_node(browser, 1), step_node(browser, 2)])
    flowed = js(browser, "return document.querySelectorAll('#graph g.edge[data-to]:not(.waiting)').length;")
    waiting = js(browser, "return document.querySelectorAll('#graph g.edge.waiting').length;")
    assert flowed >= 3 and waiting > flowed, "edges show the gradient that has flowed so far"
    hidden = js(browser, "return Array.from(document.querySelectorAll('#graph g.node.step text.grad'))"
                         ".filter(function (t) { return getComputedStyle(t).visibility === 'hidden'; }).length;")
    assert hidden > 0, "nodes still waiting do not show a gradient yet"
    browser.save_screenshot(str(tmp_path / "step3.png"))

    browser.find_element(By.ID, "prev").click()
    assert read(browser, "counter") == f"2 / {n}" and read(browser, "op") == steps[1].op
    browser.find_element(By.TAG_NAME, "h1").click()  # focus on the page, not on a control
    press(browser, Keys.ARROW_RIGHT)
    press(browser, Keys.ARROW_RIGHT)
    assert read(browser, "counter") == f"4 / {n}" and read(browser, "rule") == steps[3].rule
    press(browser, Keys.ARROW_LEFT)
    assert read(browser, "counter") == f"3 / {n}" and marked(browser, "current") == [step_node(browser, 3)]

    browser.find_element(By.ID, "slider").send_keys(Keys.ARROW_RIGHT)  # the slider moves by one, not two
    assert read(browser, "counter") == f"4 / {n}"

    browser.find_element(By.ID, "last").click()
    assert read(browser, "counter") == f"{n} / {n}" and read(browser, "op") == steps[-1].op
    assert len(marked(browser, "done")) == n - 1 and not browser.find_element(By.ID, "next").is_enabled()
    assert js(browser, "return document.querySelectorAll('#graph g.edge.waiting').length;") == 0

    # a middle step for the picture: the gradient has come back through the dense layers
    middle = next(i for i, s in enumerate(steps) if s.op == "leaf" and s.tensor.shape == (120, 400)) + 1
    js(browser, "var s = document.getElementById('slider'); s.value = arguments[0];"
                "s.dispatchEvent(new Event('input'));", middle)
    assert read(browser, "counter") == f"{middle} / {n}"
    shot = tmp_path / "lenet-player.png"
    browser.save_screenshot(str(shot))
    os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT)

    browser.find_element(By.ID, "first").click()
    assert read(browser, "counter") == f"0 / {n}" and marked(browser, "current") == []
    assert console_errors(browser) == []


def test_notebook_view_plays_inside_its_iframe(browser, tmp_path):
    from selenium.webdriver.common.by import By

    x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    x.name = "x"
    loss = (x * x).sum()
    view = player(loss, title="x·x")
    outer = tmp_path / "notebook.html"
    # a notebook output cell, as a static viewer that runs scripts would show it
    outer.write_text(f'<!DOCTYPE html><html><body><div id="next">the notebook\'s own element</div>'
                     f"{view._repr_html_()}</body></html>", encoding="utf-8")
    browser.get("file://" + str(outer))
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    total = len(list(loss.backward_steps()))
    assert read(browser, "counter") == f"0 / {total}"
    browser.find_element(By.ID, "next").click()
    browser.find_element(By.ID, "next").click()
    assert read(browser, "counter") == f"2 / {total}" and read(browser, "op") == "mul"
    numbers, sends = read(browser, "numbers"), read(browser, "sends")
    assert "[1, 4, 9]" in numbers and "[1, 1, 1]" in numbers  # small tensors: values and gradients
    assert "[1, -2, 3]" in sends
    browser.save_screenshot(str(tmp_path / "iframe.png"))
    browser.switch_to.default_content()
    assert read(browser, "next") == "the notebook's own element"
    assert console_errors(browser) == []
