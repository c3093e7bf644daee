import numpy as np
import pytest
import torch

from cvcourse_utils.gradcheck import layer_gradient_errors, numerical_gradient, numerical_gradient_array, relative_error


def test_numerical_gradient_of_a_quadratic_matches_the_formula():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal(4)
    before = x.copy()
    grad = numerical_gradient(lambda v: float(v @ A @ v), x)
    assert grad.shape == x.shape
    assert relative_error(grad, (A + A.T) @ x) < 1e-8
    np.testing.assert_array_equal(x, before)  # x is restored


def test_numerical_gradient_works_on_matrices_and_agrees_with_autograd():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((3, 5))
    X = rng.standard_normal((2, 3))

    def loss(w):
        return float(np.sum(np.tanh(X @ w) ** 2))

    Wt = torch.tensor(W, requires_grad=True)
    torch.sum(torch.tanh(torch.tensor(X) @ Wt) ** 2).backward()
    assert relative_error(numerical_gradient(loss, W), Wt.grad.numpy()) < 1e-7


def test_numerical_gradient_array_is_the_vector_jacobian_product():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4))
    df = rng.standard_normal((3, 4))
    grad = numerical_gradient_array(np.sin, x, df)
    assert grad.shape == x.shape
    assert relative_error(grad, np.cos(x) * df) < 1e-8


def test_numerical_gradient_array_copes_with_a_forward_that_returns_a_view():
    x = np.array([1.0, -2.0, 3.0])
    df = np.array([1.0, 2.0, 3.0])
    grad = numerical_gradient_array(lambda v: v, x, df)  # identity returns x itself
    np.testing.assert_allclose(grad, df, atol=1e-9)


def test_a_wrong_gradient_is_caught():
    x = np.linspace(-1, 1, 6)  # (at x = 0 the h**2 error over the 1e-8 floor would dominate)
    numeric = numerical_gradient(lambda v: float(np.sum(v**3)), x)
    assert relative_error(numeric, 3 * x**2) < 1e-7
    assert relative_error(numeric, 2 * x**2) > 1e-2


def test_relative_error_definition():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert relative_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert relative_error(np.array([0.0, 1.0]), np.array([1e-9, 1.0])) == pytest.approx(0.1)  # floor at 1e-8
    with pytest.raises(ValueError):
        relative_error(np.zeros(2), np.zeros(3))


def test_integer_inputs_are_refused():
    with pytest.raises(TypeError):
        numerical_gradient(lambda v: float(v.sum()), np.arange(3))


def _scale_forward(x, a):
    return x * a, (x, a)


def _scale_backward(dout, cache):
    x, a = cache
    return dout * a, np.sum(dout * x)


def test_layer_gradient_errors_pass_a_right_layer_and_catch_a_wrong_one():
    rng = np.random.default_rng(3)
    x, a = rng.standard_normal((4, 3)), np.array(1.7)
    errors = layer_gradient_errors(_scale_forward, _scale_backward, [x, a])
    assert len(errors) == 2 and max(errors) < 1e-8

    def wrong_backward(dout, cache):
        dx, da = _scale_backward(dout, cache)
        return dx, 2 * da

    errors = layer_gradient_errors(_scale_forward, wrong_backward, [x, a])
    assert errors[0] < 1e-8 and errors[1] > 0.1


def test_layer_gradient_errors_takes_a_single_gradient_and_an_explicit_dout():
    x = np.array([[0.5, -1.5, 2.0]])
    dout = np.array([[1.0, 2.0, -1.0]])
    errors = layer_gradient_errors(lambda v: (np.tanh(v), np.tanh(v)), lambda d, out: d * (1 - out**2), [x], dout)
    assert errors[0] < 1e-8
    with pytest.raises(ValueError):
        layer_gradient_errors(_scale_forward, lambda d, c: (d,), [x, np.array(1.0)])
