// Browser test of the sign-in limits (docs/api.md, web/countdown.js): wrong
// passwords for alice until the server answers 429; the form shows "Too
// many attempts — try again in m:ss" counting down each second, and keeps
// its button disabled for alice; bob still signs in from the same browser
// (the same address), in the same tab and in another; at 0 the button is
// enabled again and alice signs in. The tabs of one browser profile share
// the session (web/session.js), so "another tab" here is a tab of another
// profile (a browser context) of the same browser, from the same address.
// Same setup as run.mjs (helpers in lib.mjs):
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/signin.mjs
//
// The server runs with a 10 s --login-window so that the countdown ends
// within the test. Screenshots go to test-output/browser/signin/ (one at
// 375 px wide). Exits non-zero on failure. Never downloads a browser.

import assert from 'node:assert/strict';
import { afterLogin, browserTest, launch, login, WAIT, watch } from './lib.mjs';

const { log, screenshot, main } = browserTest({ name: 'signin', dir: 'signin', serveArgs: ['--login-window', '10s'] });

/** secondsLeft reads the countdown of the sign-in message, in seconds. */
async function secondsLeft(page) {
  const text = await page.locator('#login-message').textContent();
  const m = /Too many attempts — try again in (\d+):(\d\d)$/.exec(text.trim());
  assert.ok(m, `message ${JSON.stringify(text)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

async function tryPassword(page, user, password) {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function scenario({ base, password }) {
  const browser = await launch();
  const problems = [];
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    watch(page, 'tab 1', problems);
    await page.goto(`${base}/`);

    log('1. wrong passwords for alice until the server answers 429');
    const submit = page.getByRole('button', { name: 'Sign in' });
    let tries = 0;
    for (;;) {
      const answer = page.waitForResponse((r) => r.url().endsWith('/auth/login'));
      await tryPassword(page, 'alice', `wrong-${tries}`);
      const status = (await answer).status();
      tries++;
      if (status === 429) break;
      assert.equal(status, 401, `attempt ${tries}`);
      await page.waitForFunction(() => /Wrong user name or password/.test(document.querySelector('#login-message')?.textContent || ''), null, { timeout: WAIT });
      if (tries === 1) await screenshot(page, 'wrong-password');
      assert.ok(tries < 10, 'no 429 after 10 wrong passwords');
    }
    log(`  429 after ${tries - 1} wrong passwords`);
    await page.waitForFunction(() => /Too many attempts/.test(document.querySelector('#login-message')?.textContent || ''), null, { timeout: WAIT });
    assert.ok(await submit.isDisabled(), 'the button waits during the countdown');
    await screenshot(page, 'too-many-attempts');

    log('2. the countdown ticks: it decreases over 2 seconds');
    const before = await secondsLeft(page);
    await page.waitForTimeout(2100);
    const after = await secondsLeft(page);
    log(`  ${before} s, then ${after} s`);
    assert.ok(after <= before - 2 && after > 0, `countdown went from ${before} to ${after}`);
    await page.setViewportSize({ width: 375, height: 740 });
    const scroll = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(scroll <= 0, `horizontal scroll of ${scroll} px at 375 px`);
    await screenshot(page, 'countdown-375px');
    await page.setViewportSize({ width: 1280, height: 800 });

    log('3. bob signs in from the same browser, in another profile\'s tab, while alice waits');
    const tab2 = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    watch(tab2, 'tab 2', problems);
    await login(tab2, base, 'bob', password, afterLogin.projectList);
    await screenshot(tab2, 'bob-signed-in-other-tab');

    log('4. at 0 the button is enabled again, and alice signs in');
    await page.waitForFunction(() => /You can try again now/.test(document.querySelector('#login-message')?.textContent || ''), null, { timeout: WAIT });
    assert.ok(await submit.isEnabled(), 'the button is enabled at 0');
    await screenshot(page, 'countdown-ended');
    await tryPassword(page, 'alice', password);
    await afterLogin.projectList(page);
    await screenshot(page, 'alice-signed-in');

    log('5. in one tab: alice limited again, bob signs in there with the countdown running');
    const tab3 = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    watch(tab3, 'tab 3', problems);
    await tab3.goto(`${base}/`);
    for (let i = 0; ; i++) {
      const answer = tab3.waitForResponse((r) => r.url().endsWith('/auth/login'));
      await tryPassword(tab3, 'alice', `wrong-again-${i}`);
      if ((await answer).status() === 429) break;
      assert.ok(i < 10, 'no 429 the second time');
    }
    await tab3.waitForFunction(() => /Too many attempts/.test(document.querySelector('#login-message')?.textContent || ''), null, { timeout: WAIT });
    const submit3 = tab3.getByRole('button', { name: 'Sign in' });
    assert.ok(await submit3.isDisabled());
    await tab3.getByLabel('User name').fill('bob');
    assert.ok(await submit3.isEnabled(), 'another user name enables the button');
    await tab3.getByLabel('Password').fill(password);
    await screenshot(tab3, 'bob-during-alices-countdown');
    await submit3.click();
    await afterLogin.projectList(tab3);
    await screenshot(tab3, 'bob-signed-in-same-tab');

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
}

await main(scenario);
